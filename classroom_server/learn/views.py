"""The student's side: home with assigned work and the library; practising exercises."""
from __future__ import annotations

import json
from typing import Callable, NamedTuple

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from ..accounts.services import user_classrooms
from ..content import reader, school_files
from ..content.services import Kept
from ..domain import scoring
from ..i18n import error_text, interface_language
from . import assignments, practice, quizzes
from .held import HELD_MESSAGE, Held, held_for
from .blueprint import MAX_ANSWER_BYTES, bp, form_response, int_arg, now_ms, record_id
from .records import RecordError

@bp.get("/")
def home():
    user = g._get_current_object().user  # not the proxy (security.load_user says why)
    return render_template("learn/home.html", classes=user_classrooms(user),
                           assigned=assignments.for_student(user), last=practice.last_opened(user))


def _exercise(pack_id: str, node_id: str) -> practice.Exercise:
    try:
        return practice.exercise(pack_id, node_id)
    except practice.NotAnExercise:
        abort(404)


_TEMPLATES: Kept[Markup] = Kept(4096)


def _variant() -> tuple[str, str]:
    """(interface language, script root): what a kept part of a page depends on besides its key."""
    return interface_language(), request._get_current_object().script_root  # not the proxy: security.load_user


def _kept(key: tuple, make: Callable[[], str]) -> Markup:
    """A part of a page that is the same for every student: made once per `key`, which names all
    it depends on, then kept."""
    return _TEMPLATES(key, lambda: Markup(make()))


def _set_entry(index: int, kind: str, item: dict, pack_id: str, node_id: str, version: object,
               variant: tuple[str, str], assignment: str | None = None, attempt: int | None = None) -> Markup:
    """One question as the page's script may show it offline (learn/_question_template.html): the
    public item only, never the answer. The same for every student: made once per item `version`
    (what changes when the item can), `variant` (_variant) and quiz try, then kept."""
    def make() -> str:
        language = practice.content_language(item)
        action = (url_for("learn.quiz_answer", assignment_id=assignment, index=index) if kind == "quiz" else
                  url_for("learn.answer", pack_id=pack_id, node_id=node_id, item_id=item["id"]))
        entry = {"index": index, "kind": kind, "item": scoring.public_item(item, language), "language": language,
                 "pack_id": pack_id, "node_id": node_id, "action": action, "assignment": assignment,
                 "attempt": attempt}
        return render_template("learn/_question_template.html", entry=entry)
    return _kept((kind, index, pack_id, node_id, version, variant, assignment, attempt), make)


class _Links(NamedTuple):
    """A question page's links (learn/question.html): the same for every student."""
    answer: str  # where its form posts the answer
    practise: str  # the exercise's practice page (the hint form asks it again)
    lesson: str  # the exercise in the library
    next: str | None  # the next question, if there is one


_LINKS: Kept[_Links] = Kept(4096)


def _links(ex: practice.Exercise, index: int, variant: tuple[str, str]) -> _Links:
    """The question's links, built once per question and variant (four url_for calls in the
    template were a twentieth of the page's CPU), then kept."""
    pack_id, node_id, item_id = ex.pack.pack_id, ex.node.node_id, ex.items[index]["id"]
    return _LINKS((pack_id, node_id, index, item_id, len(ex.items), variant), lambda: _Links(
        url_for("learn.answer", pack_id=pack_id, node_id=node_id, item_id=item_id),
        url_for("learn.practise", pack_id=pack_id, node_id=node_id),
        url_for("content.node_page", pack_id=pack_id, node_id=node_id),
        url_for("learn.practise", pack_id=pack_id, node_id=node_id, item=index + 1)
        if index + 1 < len(ex.items) else None))


def _practice_set(ex: practice.Exercise, known: dict[str, practice.ItemState] | None = None,
                  variant: tuple[str, str] | None = None) -> list[Markup]:
    """The exercise's items that still have tries left (`known`: the states, when the caller has them).
    With unlimited tries that is every item, the same for every student: joined once and kept."""
    variant = variant or _variant()

    def entries(left: dict[str, practice.ItemState]) -> list[Markup]:
        return [_set_entry(index, "practice", item, ex.pack.pack_id, ex.node.node_id,
                           (ex.pack.id, ex.pack.manifest_sha256, item["id"]), variant)
                for index, item in enumerate(ex.items)
                if item["id"] not in left or practice.tries_left(ex, left[item["id"]].tries) != 0]
    if ex.attempts is None:
        return [_kept(("practice set", ex.pack.id, ex.pack.manifest_sha256, ex.node.node_id, variant),
                      lambda: "".join(entries({})))]
    return entries(known if known is not None else practice.states(g.user, ex))


def _question(ex: practice.Exercise, index: int, hints: int = 0, shown_at: int | None = None,
              error: str | None = None, status: int = 200, held: Held | None = None,
              known: dict[str, practice.ItemState] | None = None):
    """The question page; `held` and `known` (the items' states) when the caller has them already."""
    user = g._get_current_object().user  # not the proxy (security.load_user says why)
    item = ex.items[index]
    held = held if held is not None else held_for(user)
    if error is None and held.holds(ex.pack.pack_id, ex.node.node_id, item["id"]):
        error = str(HELD_MESSAGE)
    variant = _variant()
    language = practice.content_language(item, variant[0])
    public = scoring.public_item(item, language)
    if known is None and ex.attempts is not None:  # the set leaves out the items with no tries left
        known = practice.states(user, ex)
    if known is not None:
        used = known[item["id"]].tries if item["id"] in known else 0
    else:
        used = practice.tries_used(user, ex, item["id"])
    hints = max(0, min(hints, public["hint_count"]))
    now = now_ms()
    if shown_at is None or not now - practice.MAX_DURATION_MS <= shown_at <= now:
        shown_at = now
    tries_left = practice.tries_left(ex, used)
    # The crumbs and the answer fields are the same for every student: made once per pack version
    # and variant (learn/_crumbs.html, learn/_item_fields.html), then kept.
    version = (ex.pack.id, ex.pack.manifest_sha256, ex.node.node_id, variant)
    crumbs = _kept(("crumbs", *version), lambda: render_template("learn/_crumbs.html", ex=ex))
    fields = (_kept(("fields", *version, item["id"]),
                    lambda: render_template("learn/_item_fields.html", item=public, language=language))
              if tries_left != 0 else None)
    return render_template(
        "learn/question.html", ex=ex, index=index, total=len(ex.items), item=public, language=language,
        hints=[scoring.hint(item, i, language) for i in range(hints)], hint_count=hints,
        shown_at=shown_at, attempt=used + 1, tries_left=tries_left, error=error, crumbs=crumbs, fields=fields,
        links=_links(ex, index, variant),
        question_set=_practice_set(ex, known, variant), stored_records=()), status


@bp.get("/practice/<pack_id>/<node_id>")
def practise(pack_id: str, node_id: str):
    ex = _exercise(pack_id, node_id)
    if not ex.items:
        abort(404)
    user, args = g._get_current_object().user, request._get_current_object().args  # as in _question
    # Once for the page: which item comes next, whether it is held, and its tries.
    held = held_for(user)
    known = None
    if "item" in args:
        index = int_arg(args.get("item"))
        if index is None or not 0 <= index < len(ex.items):
            abort(404)
    else:
        known = practice.states(user, ex)
        index = practice.next_index(user, ex, held, known)
        if index is None:
            return redirect(url_for("learn.result", pack_id=pack_id, node_id=node_id))
    return _question(ex, index, hints=int_arg(args.get("hints")) or 0, shown_at=int_arg(args.get("shown_at")),
                     held=held, known=known)


@bp.post("/practice/<pack_id>/<node_id>/<item_id>")
def answer(pack_id: str, node_id: str, item_id: str):
    if request.content_length is not None and request.content_length > MAX_ANSWER_BYTES:
        abort(400, description=_("This answer is too long."))
    ex = _exercise(pack_id, node_id)
    try:
        item = ex.item(item_id)
    except practice.NotAnExercise:
        abort(404)
    index = ex.index(item_id)
    shown_at = int_arg(request.form.get("shown_at"))
    # The same form sent twice (a double click, the back button): show what was stored for it.
    sent_attempt = int_arg(request.form.get("attempt"))
    if sent_attempt is not None and sent_attempt >= 1:
        stored = practice.stored_attempt(g.user, ex, item_id, sent_attempt)
        if stored is not None:  # the id the device gave this copy names nothing to send either
            return _feedback(ex, practice.Answer(stored, False, item, stored.language), also_stored=record_id())
    try:
        result = practice.answer(g.user, practice.device_id(), ex, item_id, form_response(item),
                                 duration_ms=now_ms() - shown_at if shown_at is not None else None,
                                 record_uuid=record_id())
    except practice.RecordClash:
        abort(409)
    except scoring.ResponseError as exc:
        return _question(ex, index, shown_at=shown_at, error=error_text(exc), status=400)
    except practice.AttemptsUsed as exc:
        return _question(ex, index, error=_("You have used all %(count)d tries for this question.",
                                            count=exc.allowed), status=409)
    except practice.HeldForQuiz:
        return _question(ex, index, error=str(HELD_MESSAGE), status=409)
    except RecordError:
        return _question(ex, index, shown_at=shown_at, error=_("This answer is too long."), status=400)
    return _feedback(ex, result)


def _feedback(ex: practice.Exercise, result: practice.Answer, also_stored: str | None = None):
    index = ex.index(result.item["id"])
    used = practice.tries_used(g.user, ex, result.item["id"])
    return render_template(
        "learn/feedback.html", ex=ex, index=index, total=len(ex.items), row=result.row,
        prompt=scoring.public_item(result.item, result.language)["prompt"], language=result.language,
        explanation=result.explanation, tries_left=practice.tries_left(ex, used),
        repeated=not result.new, question_set=_practice_set(ex),
        stored_records=[result.row.uuid] + ([also_stored] if also_stored else []),
        told=result.right_after_explanation)


@bp.get("/practice/<pack_id>/<node_id>/result")
def result(pack_id: str, node_id: str):
    ex = _exercise(pack_id, node_id)
    summary = practice.summary(g.user, practice.device_id(), ex)
    return render_template("learn/result.html", ex=ex, summary=summary,
                           next_index=practice.next_index(g.user, ex))


@bp.get("/progress")
def progress():
    return render_template("learn/progress.html", rows=practice.my_progress(g.user),
                           quizzes=quizzes.handed_in(g.user))


# --- assigned work and quizzes -------------------------------------------------------------------

def _assignment(assignment_id: str):
    try:
        return assignments.get(g.user, assignment_id)
    except assignments.NotYours:
        abort(404)


@bp.get("/assignment/<assignment_id>")
def assignment(assignment_id: str):
    found = _assignment(assignment_id)
    [described] = assignments.describe(g.user, [found])
    if found.kind != "quiz":
        return render_template("learn/assignment.html", work=described, pictures=school_files.pictures_of(found),
                               comments=assignments.teacher_comments(g.user, found))
    device = practice.device_id()
    going = quizzes.active(found, g.user, device)
    tries = quizzes.attempts(found, g.user)
    released = quizzes.results_released(found)
    review = None
    handed_in = [attempt for attempt in tries if attempt.submitted_at is not None]
    if released and handed_in:
        last = handed_in[-1]
        answers = quizzes.saved(found, g.user, last)
        review = [(q, scoring.public_item(q.item, practice.content_language(q.item)), answers.get(q.key),
                   scoring.explanation(q.item, practice.content_language(q.item)),
                   practice.shown_response(answers[q.key], q.item) if q.key in answers else None)
                  for q in quizzes.questions(found)]
    return render_template(
        "learn/quiz.html", work=described, quiz=found, going=going, tries=tries, released=released,
        review=review, questions=len(quizzes.questions(found)), is_open=quizzes.is_open(found, quizzes.utcnow()),
        seconds_left=quizzes.seconds_left(going) if going else None,
        allowed=quizzes.tries_allowed(found, g.user), comments=assignments.teacher_comments(g.user, found),
        pictures=school_files.pictures_of(found))


@bp.get("/assignment/<assignment_id>/picture/<int:file_id>")
def assignment_picture(assignment_id: str, file_id: int):
    """A picture of the assignment's instructions: only for the students it is assigned to (else 404)."""
    found = _assignment(assignment_id)
    row = school_files.picture_of(found, file_id) or abort(404)
    return school_files.send(row, current_app.config["CLASSROOM_SETTINGS"].data_dir)


def _quiz_or_back(assignment_id: str):
    found = _assignment(assignment_id)
    if found.kind != "quiz":
        abort(404)
    return found


@bp.post("/quiz/<assignment_id>/start")
def quiz_start(assignment_id: str):
    quiz = _quiz_or_back(assignment_id)
    try:
        quizzes.start(quiz, g.user, practice.device_id())
    except quizzes.QuizClosed:
        flash(_("This quiz is closed."))
        return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)
    except quizzes.NoAttemptsLeft:
        flash(_("You have used all your tries at this quiz."))
        return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)
    return redirect(url_for("learn.quiz_question", assignment_id=quiz.id, index=0), 303)


def _going(quiz):
    """The go in progress, or a redirect to the quiz page saying why there is none."""
    going = quizzes.active(quiz, g.user, practice.device_id())
    if going is None:
        flash(_("Time is up: your answers were handed in.") if quizzes.attempts(quiz, g.user)
              else _("Start the quiz first."))
    return going


def _quiz_question(quiz, going, questions, index: int, error: str | None = None, status: int = 200):
    question = questions[index]
    language = practice.content_language(question.item)
    answered = quizzes.saved(quiz, g.user, going)
    variant = _variant()
    question_set = [_set_entry(q.index, "quiz", q.item, q.pack_id, q.node_id,
                               json.dumps(q.item, sort_keys=True, ensure_ascii=False), variant, quiz.id,
                               going.number)
                    for q in questions]
    return render_template(
        "learn/quiz_question.html", quiz=quiz, going=going, index=index, total=len(questions), question=question,
        item=scoring.public_item(question.item, language), language=language, saved=answered.get(question.key),
        saved_text=practice.shown_response(answered[question.key], question.item) if question.key in answered else None,
        answered={i for i, q in enumerate(questions) if q.key in answered}, shown_at=now_ms(),
        seconds_left=quizzes.seconds_left(going), error=error, question_set=question_set,
        stored_records=[row.uuid for row in answered.values()]), status


@bp.get("/quiz/<assignment_id>/<int:index>")
def quiz_question(assignment_id: str, index: int):
    quiz = _quiz_or_back(assignment_id)
    going = _going(quiz)
    if going is None:
        return redirect(url_for("learn.assignment", assignment_id=quiz.id))
    questions = quizzes.questions(quiz)
    if not 0 <= index < len(questions):
        abort(404)
    return _quiz_question(quiz, going, questions, index)


@bp.post("/quiz/<assignment_id>/<int:index>")
def quiz_answer(assignment_id: str, index: int):
    if request.content_length is not None and request.content_length > MAX_ANSWER_BYTES:
        abort(400, description=_("This answer is too long."))
    quiz = _quiz_or_back(assignment_id)
    questions = quizzes.questions(quiz)
    if not 0 <= index < len(questions):
        abort(404)
    going = _going(quiz)
    if going is None:
        return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)
    if str(going.number) != request.form.get("attempt"):
        flash(_("This page was from an earlier try at the quiz."))
        return redirect(url_for("learn.quiz_question", assignment_id=quiz.id, index=index), 303)
    shown_at = int_arg(request.form.get("shown_at"))
    try:
        quizzes.answer(quiz, g.user, practice.device_id(), going, questions[index],
                       form_response(questions[index].item),
                       duration_ms=now_ms() - shown_at if shown_at is not None else None,
                       record_uuid=record_id())
    except quizzes.RecordClash:
        abort(409)
    except scoring.ResponseError as exc:
        return _quiz_question(quiz, going, questions, index, error=error_text(exc), status=400)
    except quizzes.TimeUp:
        quizzes.active(quiz, g.user, practice.device_id())  # hands the go in
        flash(_("Time is up: your answers were handed in."))
        return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)
    except (quizzes.QuizClosed, quizzes.AlreadySubmitted):
        flash(_("This quiz is closed."))
        return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)
    except RecordError:
        return _quiz_question(quiz, going, questions, index, error=_("This answer is too long."), status=400)
    if index + 1 < len(questions):
        return redirect(url_for("learn.quiz_question", assignment_id=quiz.id, index=index + 1), 303)
    return redirect(url_for("learn.quiz_review", assignment_id=quiz.id), 303)


@bp.get("/quiz/<assignment_id>/review")
def quiz_review(assignment_id: str):
    """Before handing in: which questions have an answer."""
    quiz = _quiz_or_back(assignment_id)
    going = _going(quiz)
    if going is None:
        return redirect(url_for("learn.assignment", assignment_id=quiz.id))
    questions = quizzes.questions(quiz)
    answered = quizzes.saved(quiz, g.user, going)
    return render_template("learn/quiz_review.html", quiz=quiz, going=going, total=len(questions),
                           answered=[q.key in answered for q in questions],
                           seconds_left=quizzes.seconds_left(going))


@bp.post("/quiz/<assignment_id>/submit")
def quiz_submit(assignment_id: str):
    quiz = _quiz_or_back(assignment_id)
    device = practice.device_id()
    going = quizzes.active(quiz, g.user, device)
    if going is not None:
        quizzes.submit(quiz, g.user, device, going)
    flash(_("Your answers were handed in."))
    return redirect(url_for("learn.assignment", assignment_id=quiz.id), 303)


# --- the e-textbook reader's place -----------------------------------------------------------------

@bp.post("/reading-position")
def reading_position():
    """Where the student is in a chapter (sent by the page as they scroll and when they leave)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or request.content_length is None or request.content_length > 1000:
        abort(400, description=_("Send the chapter and how far down it, as JSON."))
    pack_id, chapter_id, fraction = data.get("pack_id"), data.get("chapter_id"), data.get("fraction")
    if (not isinstance(pack_id, str) or not isinstance(chapter_id, str) or isinstance(fraction, bool)
            or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1):
        abort(400, description=_("Send the chapter and how far down it, as JSON."))
    node = practice.chapter(pack_id, chapter_id)
    if node is None:
        abort(404)
    reader.save_position(g.user, pack_id, node.parent_id, chapter_id, float(fraction))
    if fraction >= reader.READ_THROUGH:
        practice.record_read(g.user, pack_id, chapter_id, reader.read_record_id(g.user, pack_id, chapter_id))
    return "", 204

