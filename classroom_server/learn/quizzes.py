"""Quizzes: a teacher's set of items, answered in one go (optionally timed), scored on the server,
results shown to the student only when the teacher's rule releases them.

An answer is one `answered` record carrying the quiz (its assignment id) and the go's number; a
student may change an answer until they hand in, and the last one counts. Handing in stores one
`submitted` record with the score. The quiz itself is the activity `quiz/<assignment id>`; a
teacher's own items live there too, pack items keep their pack and exercise.
"""
from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass

from peewee import IntegrityError

from ..db import database
from ..domain import scoring
from ..models import (Assignment, AssignmentItem, ContentNode, ContentPack, ExtraTry, LearningRecord, QuizAttempt, User,
                      utcnow)
from . import records
from .assignments import is_open, results_released
from .practice import clamp_duration, content_language

#: the pack id of a quiz's own activity (and of a teacher's own items)
QUIZ_PACK = "quiz"
#: a slow network after the last second still counts
GRACE = datetime.timedelta(seconds=30)
_SUBMISSION = uuid.UUID("0c8d0bb4-7f8e-4a8e-9d6e-3b1f4f4f2a10")


class QuizError(Exception):
    """Why a quiz cannot be started, answered or handed in now."""


class QuizClosed(QuizError):
    pass


class NoAttemptsLeft(QuizError):
    pass


class TimeUp(QuizError):
    pass


class AlreadySubmitted(QuizError):
    pass


@dataclass(frozen=True)
class Question:
    index: int
    pack_id: str
    node_id: str
    item: dict  # the whole item, answers included: never sent to the browser as it is

    @property
    def key(self) -> tuple[str, str, str]:
        return self.pack_id, self.node_id, self.item["id"]


def questions(assignment: Assignment) -> list[Question]:
    """The quiz's items in order; items whose pack is no longer installed are left out."""
    found: list[Question] = []
    for part in AssignmentItem.select().where(AssignmentItem.assignment == assignment.id).order_by(
            AssignmentItem.position):
        if part.item_data:
            found.append(Question(len(found), QUIZ_PACK, assignment.id, json.loads(part.item_data)))
            continue
        node = (ContentNode.select(ContentNode.data).join(ContentPack)
                .where(ContentPack.pack_id == part.pack_id, ContentNode.node_id == part.node_id,
                       ContentNode.kind == "exercise").first())
        if node is None:
            continue
        for item in json.loads(node.data).get("items") or []:
            if part.item_id is None or item["id"] == part.item_id:
                found.append(Question(len(found), part.pack_id, part.node_id, item))
    return found


def attempts(assignment: Assignment, user: User) -> list[QuizAttempt]:
    return list(QuizAttempt.select().where(QuizAttempt.assignment == assignment.id, QuizAttempt.user == user.id)
                .order_by(QuizAttempt.number))


def tries_allowed(assignment: Assignment, user: User) -> int:
    """Goes at the quiz for this student: the quiz's number plus any another try the teacher gave."""
    extra = (ExtraTry.select(ExtraTry.extra)
             .where(ExtraTry.assignment == assignment.id, ExtraTry.user == user.id).scalar() or 0)
    return assignment.attempts + extra


def _expired(attempt: QuizAttempt, now: datetime.datetime) -> bool:
    return attempt.deadline is not None and now > attempt.deadline + GRACE


def active(assignment: Assignment, user: User, device: str, now: datetime.datetime | None = None) -> QuizAttempt | None:
    """The go in progress; one whose time ran out is handed in as it stands (None then)."""
    now = now or utcnow()
    for attempt in attempts(assignment, user):
        if attempt.submitted_at is None:
            if _expired(attempt, now) or not is_open(assignment, now):
                submit(assignment, user, device, attempt, now)
                return None
            return attempt
    return None


def start(assignment: Assignment, user: User, device: str, now: datetime.datetime | None = None) -> QuizAttempt:
    """Begin a go (or return the one in progress)."""
    now = now or utcnow()
    if not is_open(assignment, now):
        raise QuizClosed(assignment.id)
    going = active(assignment, user, device, now)
    if going is not None:
        return going
    number = len(attempts(assignment, user)) + 1
    allowed = tries_allowed(assignment, user)
    if number > allowed:
        raise NoAttemptsLeft(allowed)
    deadline = None
    if assignment.time_limit_minutes:
        deadline = now + datetime.timedelta(minutes=assignment.time_limit_minutes)
    if assignment.closed_at is not None:
        deadline = min(deadline or assignment.closed_at, assignment.closed_at)
    try:
        with database.atomic():
            return QuizAttempt.create(assignment=assignment.id, user=user.id, number=number, started_at=now,
                                      deadline=deadline)
    except IntegrityError:  # the same start sent twice at once: one go, not two
        return QuizAttempt.get(QuizAttempt.assignment == assignment.id, QuizAttempt.user == user.id,
                               QuizAttempt.number == number)


def _check_can_answer(assignment: Assignment, attempt: QuizAttempt, now: datetime.datetime) -> None:
    if attempt.submitted_at is not None:
        raise AlreadySubmitted(assignment.id)
    if _expired(attempt, now):
        raise TimeUp(assignment.id)
    if not is_open(assignment, now):
        raise QuizClosed(assignment.id)


class RecordClash(QuizError):
    """A record id that names another answer (someone else's, another quiz or question)."""


def stored(assignment: Assignment, user: User, question: Question, record_uuid: str) -> LearningRecord | None:
    """The answer a device sent before under `record_uuid` (a retry after a lost reply), if any."""
    existing = LearningRecord.get_or_none(LearningRecord.uuid == record_uuid)
    if existing is not None and (existing.user_id != user.id or existing.assignment != assignment.id
                                 or (existing.pack_id, existing.node_id, existing.item_id) != question.key):
        raise RecordClash(record_uuid)
    return existing


def answer(assignment: Assignment, user: User, device: str, attempt: QuizAttempt, question: Question,
           response: object, duration_ms: int | None = None, now: datetime.datetime | None = None,
           record_uuid: str | None = None, occurred_at: datetime.datetime | None = None) -> LearningRecord:
    """Score and store one answer of this go. Raises QuizError or scoring.ResponseError; then
    nothing is stored. A `record_uuid` stored before returns that record, even once the go is
    handed in (the device sends again what it kept when the reply was lost)."""
    if record_uuid is not None:
        existing = stored(assignment, user, question, record_uuid)
        if existing is not None:
            return existing
    _check_can_answer(assignment, attempt, now or utcnow())
    language = content_language(question.item)
    scored = scoring.score(question.item, response, language)
    row, _ = records.record(user, device, records.Interaction(
        verb="answered", pack_id=question.pack_id, node_id=question.node_id, node_kind="exercise",
        language=language, item_id=question.item["id"], classroom=assignment.classroom_id,
        assignment=assignment.id, response=scored.response_text, typed=scored.typed, correct=scored.correct,
        score=scored.score,
        duration_ms=clamp_duration(duration_ms), attempt=attempt.number), record_uuid=record_uuid,
        occurred_at=occurred_at)
    return row


def saved(assignment: Assignment, user: User, attempt: QuizAttempt) -> dict[tuple[str, str, str], LearningRecord]:
    """The answer that counts for each item of this go: the last one given."""
    rows = (LearningRecord.select().where(
        LearningRecord.user == user.id, LearningRecord.assignment == assignment.id,
        LearningRecord.verb == "answered", LearningRecord.attempt == attempt.number)
        .order_by(LearningRecord.seq))
    return {(row.pack_id, row.node_id, row.item_id): row for row in rows}


def submit(assignment: Assignment, user: User, device: str, attempt: QuizAttempt,
           now: datetime.datetime | None = None) -> QuizAttempt:
    """Hand in a go: score what was answered (unanswered items count as wrong), store one
    `submitted` record (its id comes from the go, so handing in twice stores one), close the go."""
    now = now or utcnow()
    if attempt.submitted_at is not None:
        return attempt
    items = questions(assignment)
    answers = saved(assignment, user, attempt)
    right = sum(1 for q in items if answers.get(q.key) is not None and answers[q.key].correct)
    total = len(items)
    score = right / total if total else 0.0
    language = content_language(items[0].item) if items else "kk"
    records.store(user, device, records.Interaction(
        verb="submitted", pack_id=QUIZ_PACK, node_id=assignment.id, node_kind="exercise", language=language,
        classroom=assignment.classroom_id, assignment=assignment.id, score=score, progress=1.0,
        attempt=attempt.number),
        record_uuid=str(uuid.uuid5(_SUBMISSION, f"{assignment.id}/{user.pseudonym}/{attempt.number}")))
    (QuizAttempt.update(submitted_at=now, right=right, total=total, score=score)
     .where(QuizAttempt.id == attempt.id, QuizAttempt.submitted_at.is_null()).execute())
    return QuizAttempt.get_by_id(attempt.id)


def seconds_left(attempt: QuizAttempt, now: datetime.datetime | None = None) -> int | None:
    if attempt.deadline is None:
        return None
    return max(0, int((attempt.deadline - (now or utcnow())).total_seconds()))


@dataclass(frozen=True)
class HandedIn:
    assignment: Assignment
    attempt: QuizAttempt
    released: bool


def handed_in(user: User, now: datetime.datetime | None = None) -> list[HandedIn]:
    """Every go this student handed in, newest first; scores only where results are released."""
    now = now or utcnow()
    rows = (QuizAttempt.select(QuizAttempt, Assignment).join(Assignment)
            .where(QuizAttempt.user == user.id, QuizAttempt.submitted_at.is_null(False))
            .order_by(QuizAttempt.submitted_at.desc()))
    return [HandedIn(row.assignment, row, results_released(row.assignment, now)) for row in rows]
