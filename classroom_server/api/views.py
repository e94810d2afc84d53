"""The JSON API under /api/v1/, described at /api/v1/openapi.json."""
from __future__ import annotations

import datetime
import json

from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from flask_babel import gettext as _

from .. import __version__, migrations
from ..coach.services import visible_classrooms
from ..content import services as content
from ..db import database
from ..domain.scoring import ResponseError
from ..i18n import error_text
from ..learn import assignments, practice, quizzes
from ..learn.held import HELD_MESSAGE
from ..learn.records import RecordError, valid_device_id
from ..security import csrf_token, int_arg, json_error, roles_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.after_request(practice.remember_device)

#: how far ahead of the server's clock a device's may be: beyond it an answer's time is not believed
CLOCK_AHEAD = datetime.timedelta(days=1)

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}


def _op(summary: str, schema: dict, secured: bool = True) -> dict:
    op = {"summary": summary,
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}}
    if secured:
        op["responses"]["401"] = {"description": "Not signed in",
                                  "content": {"application/json": {"schema": _ERROR}}}
        op["responses"]["403"] = {"description": "The role may not use this",
                                  "content": {"application/json": {"schema": _ERROR}}}
    return op


def _answers_op() -> dict:
    result = {"type": "object", "properties": {
        "record_id": {"type": "string", "format": "uuid"}, "correct": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "explanation": {"type": "string", "nullable": True}, "attempt": {"type": "integer"},
        "new": {"type": "boolean", "description": "false: this record_id was stored before; nothing new"}}}
    op = _op("A student's answer to one exercise item: scored and stored as one learning record "
             "(students only; the device is the classroom_device cookie)", result)
    op["responses"]["200"]["description"] = "A replay: the record_id was stored before, its result"
    op["responses"]["201"] = {"description": "Stored", "content": {"application/json": {"schema": result}}}
    errors = {"application/json": {"schema": _ERROR}}
    op["responses"]["400"] = {"description": "`bad_request`: not a JSON object, a field missing or of the wrong "
                                             "type, a negative duration_ms, a record_id that is not a lowercase "
                                             "UUID, an answered_at that is not a date and time; `bad_time`: an "
                                             "answered_at before the school server was set up or more than a day "
                                             "ahead of its clock; `bad_response`: a response of the wrong shape "
                                             "for the item, or too long; `too_large`: a body over 20,000 bytes; "
                                             "`csrf`: a missing or stale X-CSRF-Token. The message says why, in "
                                             "the student's language.",
                              "content": errors}
    op["responses"]["404"] = {"description": "No such exercise or item", "content": errors}
    op["responses"]["409"] = {"description": "Every try the exercise allows is used, record_id names another "
                                             "record, or the item is in a quiz this student has not finished "
                                             "(held_for_quiz: no feedback until its results are out)",
                              "content": errors}
    op["responses"]["507"] = {"description": "The school server's disk is full: nothing stored, keep the "
                                             "answer and send it again later", "content": errors}
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["pack_id", "node_id", "item_id", "response"], "properties": {
            "pack_id": {"type": "string", "minLength": 1}, "node_id": {"type": "string", "minLength": 1},
            "item_id": {"type": "string", "minLength": 1},
            "response": {"description": "single: a choice id; multiple: a list of choice ids; numeric: a "
                                        "number or a typed text (\"0,5\"); text: a text; ordering: the "
                                        "choice ids in order; matching: {left id: right id} or "
                                        "[[left, right], ...] (ids as the item shows them)"},
            "duration_ms": {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER},
            "record_id": {"type": "string", "format": "uuid",
                          "description": "An offline answer's own id: sending it again stores nothing new"},
            "answered_at": {"type": "string", "format": "date-time",
                            "description": "When it was answered offline (default: now)"}}}}}}
    return op


MAX_QUERY = 200
MAX_PAGE = 10_000
MAX_INTEGER = 2**63 - 1  # SQLite's largest integer


def _search_responses() -> dict:
    errors = {"application/json": {"schema": _ERROR}}
    return {"400": {"description": "`missing_query`: no q, or only spaces; `bad_parameter`: q over 200 "
                                   "characters, subject over 200, grade not a whole number from 0 to 99, page not "
                                   "one from 1 to 10000, or language not kk, ru or en (the message names it)",
                    "content": errors}}


def _quiz_answers_op() -> dict:
    result = {"type": "object", "properties": {
        "record_id": {"type": "string", "format": "uuid"},
        "new": {"type": "boolean", "description": "false: this record_id was stored before; nothing new"}}}
    op = _op("A quiz answer a student's device kept while the school server could not be reached: scored "
             "and stored like the quiz page's form (the score is shown when the teacher's rule releases it)",
             result)
    op["responses"]["200"]["description"] = "A replay: the record_id was stored before"
    op["responses"]["201"] = {"description": "Stored", "content": {"application/json": {"schema": result}}}
    errors = {"application/json": {"schema": _ERROR}}
    op["responses"]["400"] = {"description": "Not JSON, a response of the wrong shape, bad CSRF token",
                              "content": errors}
    op["responses"]["404"] = {"description": "No such quiz for this student, or no such question in it",
                              "content": errors}
    op["responses"]["409"] = {"description": "The try was handed in (or the quiz closed, or time ran out) "
                                             "before the answer arrived; or record_id names another record",
                              "content": errors}
    op["responses"]["507"] = {"description": "The school server's disk is full: nothing stored, keep the "
                                             "answer and send it again later", "content": errors}
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["assignment_id", "attempt", "pack_id", "node_id", "item_id", "response", "record_id"],
        "properties": {
            "assignment_id": {"type": "string"}, "attempt": {"type": "integer", "description": "the try's number"},
            "pack_id": {"type": "string"}, "node_id": {"type": "string"}, "item_id": {"type": "string"},
            "response": {"description": "as for /api/v1/answers"},
            "duration_ms": {"type": "integer", "minimum": 0},
            "record_id": {"type": "string", "format": "uuid", "description": "The answer's own id, made on the device"},
            "answered_at": {"type": "string", "format": "date-time"}}}}}}
    return op


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Classroom server API", "version": __version__,
             "description": "Sign in through the web page; the session cookie authenticates API calls. "
                            "State-changing calls carry the X-CSRF-Token header (its value is in /me)."},
    "paths": {
        "/api/v1/me": {"get": _op("The signed-in user, and the CSRF token for state-changing calls", {
            "type": "object", "properties": {
                "id": {"type": "integer"}, "display_name": {"type": "string"},
                "role": {"type": "string", "enum": ["admin", "teacher", "student"]},
                "language": {"type": "string", "nullable": True}, "csrf_token": {"type": "string"}}})},
        "/api/v1/classes": {"get": _op("Classes the user teaches (administrators: all classes)", {
            "type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "grade": {"type": "integer", "nullable": True},
                "signin_mode": {"type": "string", "enum": ["name", "pin", "picture"]},
                "students": {"type": "integer"}}}})},
        "/api/v1/search": {"get": {**_op("Search lessons, chapters, exercises and media (any signed-in user)", {
            "type": "object", "properties": {
                "total": {"type": "integer"},
                "hits": {"type": "array", "items": {"type": "object", "properties": {
                    "pack_id": {"type": "string"}, "node_id": {"type": "string"}, "kind": {"type": "string"},
                    "title": {"type": "string"}, "snippet_html": {"type": "string"},
                    "language": {"type": "string"}, "url": {"type": "string"}}}}}}),
            "parameters": [
                {"name": "q", "in": "query", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY}},
                {"name": "subject", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                {"name": "grade", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 99}},
                {"name": "language", "in": "query", "schema": {"type": "string", "enum": ["kk", "ru", "en"]}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}}]}},
        "/api/v1/answers": {"post": _answers_op()},
        "/api/v1/quiz-answers": {"post": _quiz_answers_op()},
        "/api/v1/openapi.json": {"get": _op("This description", {"type": "object"}, secured=False)},
    },
}

OPENAPI["paths"]["/api/v1/search"]["get"]["responses"].update(_search_responses())


@bp.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@bp.get("/me")
def me():
    user = g.user
    return jsonify(id=user.id, display_name=user.display_name, role=user.role, language=user.language,
                   csrf_token=csrf_token())


@bp.get("/classes")
def classes():
    roles_required("teacher", "admin")()
    return jsonify([{"id": c.id, "name": c.name, "grade": c.grade, "signin_mode": c.signin_mode,
                     "students": c.student_count} for c in visible_classrooms(g.user)])


def _bad_parameter(message: str):
    abort(json_error(400, "bad_parameter", message))


@bp.get("/search")
def search():
    raw = request.args.get("q", "")
    if len(raw) > MAX_QUERY:
        _bad_parameter(f"q is {len(raw)} characters long; search with at most {MAX_QUERY}")
    text = raw.strip()
    if not text:
        abort(json_error(400, "missing_query", "Give the words to search for as ?q=..."))
    subject = request.args.get("subject") or None
    if subject is not None and len(subject) > 200:
        _bad_parameter("subject is longer than 200 characters")
    language = request.args.get("language")
    if language is not None and language not in ("kk", "ru", "en"):
        _bad_parameter(f"language must be kk, ru or en, not {language[:40]!r}")
    grade = int_arg("grade", low=0, high=99, blank_is_absent=False)
    page = int_arg("page", 1, low=1, high=MAX_PAGE, blank_is_absent=False)
    result = content.search(text, subject=subject, grade=grade, language=language,
                            limit=20, offset=(page - 1) * 20)
    return jsonify(total=result.total, hits=[
        {"pack_id": h.pack_id, "node_id": h.node_id, "kind": h.kind, "title": h.title,
         "snippet_html": h.snippet_html, "language": h.language,
         "url": url_for("content.node_page", pack_id=h.pack_id, node_id=h.node_id, lang=h.language)}
        for h in result.hits])


def _answer_error(status: int, error: str, message: str):
    abort(json_error(status, error, message))


def _answered_at(value: object) -> datetime.datetime | None:
    """When an offline answer was made (UTC), if the device's clock can be believed; else a 400."""
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        _answer_error(400, "bad_request", _("answered_at is not a date and time (ISO 8601)."))
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if moment > now + CLOCK_AHEAD:
        _answer_error(400, "bad_time", _("answered_at %(time)s is in the future: set the date and time on this "
                                         "device, then send the answer again.", time=_stamp(moment)))
    started = migrations.created_at(database.obj)
    if started is not None and moment < started:
        _answer_error(400, "bad_time", _("answered_at %(time)s is before this school server was set up "
                                         "(%(start)s): set the date and time on this device, then send the "
                                         "answer again.", time=_stamp(moment), start=_stamp(started)))
    # A device clock a little ahead of ours cannot put an answer in the future.
    return min(moment, now)


def _stamp(moment: datetime.datetime) -> str:
    return f"{moment.year:04d}-{moment:%m-%d %H:%M} UTC"


def _answer_body() -> tuple[dict, int | None, str | None]:
    """A student's answer sent as JSON, checked: (the body, duration_ms, record_id)."""
    roles_required("student")()
    if request.content_length is not None and request.content_length > 20_000:
        _answer_error(400, "too_large", _("This answer is too long."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        _answer_error(400, "bad_request", _("Send the answer as a JSON object."))
    names = ("pack_id", "node_id", "item_id")
    if not all(isinstance(body.get(name), str) and body[name] for name in names) or "response" not in body:
        _answer_error(400, "bad_request", _("pack_id, node_id, item_id and response are required."))
    duration = body.get("duration_ms")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)
                                 or not 0 <= duration <= MAX_INTEGER):
        _answer_error(400, "bad_request", _("duration_ms is a whole number of milliseconds."))
    record_id = body.get("record_id")
    if record_id is not None and not (isinstance(record_id, str) and valid_device_id(record_id)):
        _answer_error(400, "bad_request", _("record_id is a lowercase UUID."))
    return body, duration, record_id


@bp.post("/answers")
def answers():
    body, duration, record_id = _answer_body()
    try:
        ex = practice.exercise(body["pack_id"], body["node_id"])
        result = practice.answer(g.user, practice.device_id(), ex, body["item_id"], body["response"],
                                 duration_ms=duration, record_uuid=record_id,
                                 occurred_at=_answered_at(body.get("answered_at")))
    except practice.NotAnExercise:
        _answer_error(404, "not_found", _("There is no such exercise or question."))
    except practice.AttemptsUsed as exc:
        _answer_error(409, "attempts_used", _("You have used all %(count)d tries for this question.",
                                              count=exc.allowed))
    except practice.HeldForQuiz:
        _answer_error(409, "held_for_quiz", str(HELD_MESSAGE))
    except practice.RecordClash:
        _answer_error(409, "record_clash", _("This record_id belongs to another answer."))
    except ResponseError as exc:
        _answer_error(400, "bad_response", error_text(exc))
    except RecordError:
        _answer_error(400, "bad_response", _("This answer is too long."))
    row = result.row
    # What jsonify writes (sorted keys, compact), without its per-call settings lookups: this
    # reply is sent for every answer.
    reply = json.dumps({"record_id": row.uuid, "correct": row.correct, "score": row.score,
                        "explanation": result.explanation, "attempt": row.attempt, "new": result.new},
                       sort_keys=True, separators=(",", ":"))
    return Response(reply + "\n", status=201 if result.new else 200, mimetype="application/json")


@bp.post("/quiz-answers")
def quiz_answers():
    """One quiz answer a device kept while the school server could not be reached."""
    body, duration, record_id = _answer_body()
    if record_id is None:
        _answer_error(400, "bad_request", _("record_id is a lowercase UUID."))
    attempt = body.get("attempt")
    if not isinstance(body.get("assignment_id"), str) or isinstance(attempt, bool) or not isinstance(attempt, int):
        _answer_error(400, "bad_request", _("assignment_id and attempt (the try's number) are required."))
    try:
        quiz = assignments.get(g.user, body["assignment_id"])
    except assignments.NotYours:
        quiz = None
    key = (body["pack_id"], body["node_id"], body["item_id"])
    found = quizzes.questions(quiz) if quiz is not None and quiz.kind == "quiz" else []
    question = next((q for q in found if q.key == key), None)
    if question is None:
        _answer_error(404, "not_found", _("There is no such quiz or question."))
    device = practice.device_id()
    try:
        if quizzes.stored(quiz, g.user, question, record_id) is not None:  # sent before, its reply lost
            return _quiz_reply(record_id, new=False)
        going = quizzes.active(quiz, g.user, device)
        if going is None or going.number != attempt:
            _answer_error(409, "quiz_closed", _("This answer came after the quiz was handed in, so it does not count."))
        quizzes.answer(quiz, g.user, device, going, question, body["response"], duration_ms=duration,
                       record_uuid=record_id, occurred_at=_answered_at(body.get("answered_at")))
    except quizzes.RecordClash:
        _answer_error(409, "record_clash", _("This record_id belongs to another answer."))
    except (quizzes.TimeUp, quizzes.QuizClosed, quizzes.AlreadySubmitted):
        _answer_error(409, "quiz_closed", _("This answer came after the quiz was handed in, so it does not count."))
    except ResponseError as exc:
        _answer_error(400, "bad_response", error_text(exc))
    except RecordError:
        _answer_error(400, "bad_response", _("This answer is too long."))
    return _quiz_reply(record_id, new=True)


def _quiz_reply(record_id: str, new: bool) -> Response:
    return Response(json.dumps({"record_id": record_id, "new": new}, sort_keys=True) + "\n",
                    status=201 if new else 200, mimetype="application/json")
