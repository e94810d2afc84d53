"""The JSON API under /api/v1/, described at /api/v1/openapi.json."""
from __future__ import annotations

import datetime
import json

from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from flask_babel import gettext as _

from .. import __version__
from ..coach.services import visible_classrooms
from ..content import services as content
from ..domain.scoring import ResponseError
from ..i18n import error_text
from ..learn import assignments, practice, quizzes
from ..learn.services import RecordError, valid_device_id
from ..security import csrf_token, json_error, roles_required

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.after_request(practice.remember_device)

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
    op["responses"]["400"] = {"description": "Not JSON, a response of the wrong shape for the item (the "
                                             "message says why, in the student's language), bad CSRF token",
                              "content": errors}
    op["responses"]["404"] = {"description": "No such exercise or item", "content": errors}
    op["responses"]["409"] = {"description": "Every try the exercise allows is used, or record_id names "
                                             "another record", "content": errors}
    op["responses"]["507"] = {"description": "The school server's disk is full: nothing stored, keep the "
                                             "answer and send it again later", "content": errors}
    op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["pack_id", "node_id", "item_id", "response"], "properties": {
            "pack_id": {"type": "string"}, "node_id": {"type": "string"}, "item_id": {"type": "string"},
            "response": {"description": "single: a choice id; multiple: a list of choice ids; numeric: a "
                                        "number or a typed text (\"0,5\"); text: a text; ordering: the "
                                        "choice ids in order; matching: {left id: right id} or "
                                        "[[left, right], ...] (ids as the item shows them)"},
            "duration_ms": {"type": "integer", "minimum": 0},
            "record_id": {"type": "string", "format": "uuid",
                          "description": "An offline answer's own id: sending it again stores nothing new"},
            "answered_at": {"type": "string", "format": "date-time",
                            "description": "When it was answered offline (default: now)"}}}}}}
    return op


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
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 200}},
                {"name": "subject", "in": "query", "schema": {"type": "string"}},
                {"name": "grade", "in": "query", "schema": {"type": "integer"}},
                {"name": "language", "in": "query", "schema": {"type": "string", "enum": ["kk", "ru", "en"]}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}]}},
        "/api/v1/answers": {"post": _answers_op()},
        "/api/v1/quiz-answers": {"post": _quiz_answers_op()},
        "/api/v1/openapi.json": {"get": _op("This description", {"type": "object"}, secured=False)},
    },
}


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


@bp.get("/search")
def search():
    text = request.args.get("q", "").strip()[:200]
    if not text:
        abort(json_error(400, "missing_query", "Give the words to search for as ?q=..."))
    language = request.args.get("language")
    page = max(1, request.args.get("page", 1, type=int))
    result = content.search(text, subject=request.args.get("subject") or None,
                            grade=request.args.get("grade", type=int),
                            language=language if language in ("kk", "ru", "en") else None,
                            limit=20, offset=(page - 1) * 20)
    return jsonify(total=result.total, hits=[
        {"pack_id": h.pack_id, "node_id": h.node_id, "kind": h.kind, "title": h.title,
         "snippet_html": h.snippet_html, "language": h.language,
         "url": url_for("content.node_page", pack_id=h.pack_id, node_id=h.node_id, lang=h.language)}
        for h in result.hits])


def _answer_error(status: int, error: str, message: str):
    abort(json_error(status, error, message))


def _answered_at(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        _answer_error(400, "bad_request", _("answered_at is not a date and time (ISO 8601)."))
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    # A device clock ahead of ours cannot put an answer in the future.
    return min(moment, datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))


def _answer_body() -> tuple[dict, int | None, str | None]:
    """A student's answer sent as JSON, checked: (the body, duration_ms, record_id)."""
    roles_required("student")()
    if request.content_length is not None and request.content_length > 20_000:
        _answer_error(400, "too_large", _("This answer is too long."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        _answer_error(400, "bad_request", _("Send the answer as a JSON object."))
    names = ("pack_id", "node_id", "item_id")
    if not all(isinstance(body.get(name), str) for name in names) or "response" not in body:
        _answer_error(400, "bad_request", _("pack_id, node_id, item_id and response are required."))
    duration = body.get("duration_ms")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
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
