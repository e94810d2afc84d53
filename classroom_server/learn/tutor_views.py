"""Adaptive practice pages: skills and topics with mastery bars, then item after item chosen by the tutor.

Routes live on the learn blueprint (students only). An item is answered on the same path as any
exercise (learn.practice.answer: scored on the server, one record); the tutor only chooses.
"""
from __future__ import annotations

from flask import abort, g, render_template, request, url_for
from flask_babel import gettext as _

from ..accounts.services import user_classrooms
from ..domain import scoring
from ..i18n import error_text, localized
from . import assignments, practice, tutor
from .blueprint import MAX_ANSWER_BYTES, bp, form_response, int_arg, now_ms, record_id
from .held import HELD_MESSAGE
from .records import RecordError


def _my_topics(lib: tutor.Library) -> tutor.PracticeTopics:
    """The student's practice topics: what their teachers assigned, then their grades'."""
    grades = {c.grade for c in user_classrooms(g.user) if c.grade is not None}
    assigned = [(part.row.pack_id, part.row.node_id) for work in assignments.for_student(g.user)
                for part in work.parts]
    return tutor.practice_topics(lib, grades, assigned)


@bp.get("/adaptive/")
def adaptive_home():
    lib = tutor.library()
    mine = _my_topics(lib)
    every = request.args.get("all") == "1"
    others = [t for t in lib.topics if t not in mine.assigned] if every else mine.grade
    return render_template("learn/adaptive.html", assigned=tutor.my_mastery(g.user, mine.assigned),
                           topics=tutor.my_mastery(g.user, others), hidden=0 if every else mine.hidden,
                           every=every)


def _serve(scope: str):
    try:
        choice = tutor.recommend(g.user, scope)
    except tutor.UnknownScope:
        return render_template("learn/adaptive_none.html", unknown=True), 404
    except tutor.DoneForNow:
        mine = _my_topics(tutor.library())
        return render_template("learn/adaptive_none.html", unknown=False, done=True, title=_scope_title(scope),
                               next_skills=tutor.next_skills(g.user, mine.assigned + mine.grade, scope))
    if choice is None:
        return render_template("learn/adaptive_none.html", unknown=False, title=_scope_title(scope))
    return _question(scope, choice.candidate.pack_id, choice.candidate.node_id, choice.candidate.item_id,
                     choice.why)


def _question(scope: str, pack_id: str, node_id: str, item_id: str, why: str | None, error: str | None = None,
              status: int = 200):
    try:
        ex = practice.exercise(pack_id, node_id)
        item = ex.item(item_id)
    except practice.NotAnExercise:
        abort(404)
    language = practice.content_language(item)
    used = practice.tries_used(g.user, ex, item_id)
    return render_template(
        "learn/adaptive_question.html", scope=scope, ex=ex, item=scoring.public_item(item, language),
        language=language, why=why, shown_at=now_ms(), attempt=used + 1,
        tries_left=practice.tries_left(ex, used), error=error, title=_scope_title(scope),
        next_url=_scope_url(scope)), status


def _scope_title(scope: str) -> str:
    kind, _sep, name = scope.partition(":")
    lib = tutor.library()
    if kind == "skill":
        return lib.skill_name(name)
    topic = lib.topic(scope)
    return localized(topic.title) if topic else name


def _scope_url(scope: str) -> str:
    """The page that asks the tutor for the next item of this scope."""
    kind, _sep, name = scope.partition(":")
    if kind == "skill":
        return url_for("learn.adaptive_skill", skill=name)
    pack_id, _sep, node_id = name.partition("/")
    return url_for("learn.adaptive_topic", pack_id=pack_id, node_id=node_id)


@bp.get("/adaptive/skill/<skill>")
def adaptive_skill(skill: str):
    try:
        scope = tutor.skill_scope(skill)
    except tutor.UnknownScope:
        abort(404)
    return _serve(scope)


@bp.get("/adaptive/topic/<pack_id>/<node_id>")
def adaptive_topic(pack_id: str, node_id: str):
    return _serve(tutor.topic_scope(pack_id, node_id))


def _posted_scope() -> str:
    scope = request.form.get("scope", "")
    kind, _sep, name = scope.partition(":")
    if kind == "skill":
        try:
            return tutor.skill_scope(name)
        except tutor.UnknownScope:
            abort(400, description=_("This practice page is out of date: open “Practice” again."))
    if kind == "topic" and "/" in name and len(scope) <= 300:
        return scope
    abort(400, description=_("This practice page is out of date: open “Practice” again."))


@bp.post("/adaptive/answer/<pack_id>/<node_id>/<item_id>")
def adaptive_answer(pack_id: str, node_id: str, item_id: str):
    if request.content_length is not None and request.content_length > MAX_ANSWER_BYTES:
        abort(400, description=_("This answer is too long."))
    try:
        ex = practice.exercise(pack_id, node_id)
        item = ex.item(item_id)
    except practice.NotAnExercise:
        abort(404)
    scope = _posted_scope()
    shown_at = int_arg(request.form.get("shown_at"))
    sent_attempt = int_arg(request.form.get("attempt"))
    if sent_attempt is not None and sent_attempt >= 1:
        stored = practice.stored_attempt(g.user, ex, item_id, sent_attempt)
        if stored is not None:  # the same form sent twice: show what was stored for it
            return _feedback(scope, ex, practice.Answer(stored, False, item, stored.language), record_id())
    try:
        result = practice.answer(g.user, practice.device_id(), ex, item_id, form_response(item),
                                 duration_ms=now_ms() - shown_at if shown_at is not None else None,
                                 record_uuid=record_id())
    except practice.RecordClash:
        abort(409)
    except scoring.ResponseError as exc:
        return _question(scope, pack_id, node_id, item_id, None, error=error_text(exc), status=400)
    except practice.AttemptsUsed as exc:
        return _question(scope, pack_id, node_id, item_id, None, status=409,
                         error=_("You have used all %(count)d tries for this question.", count=exc.allowed))
    except practice.HeldForQuiz:
        return _question(scope, pack_id, node_id, item_id, None, error=str(HELD_MESSAGE), status=409)
    except RecordError:
        return _question(scope, pack_id, node_id, item_id, None, error=_("This answer is too long."), status=400)
    return _feedback(scope, ex, result)


def _feedback(scope: str, ex: practice.Exercise, result: practice.Answer, also_stored: str | None = None):
    return render_template(
        "learn/adaptive_feedback.html", scope=scope, ex=ex, row=result.row, also_stored=also_stored,
        prompt=scoring.public_item(result.item, result.language)["prompt"], language=result.language,
        explanation=result.explanation, repeated=not result.new, told=result.right_after_explanation,
        skills=tutor.scope_mastery(g.user, scope),
        title=_scope_title(scope), next_url=_scope_url(scope))
