"""What a quiz keeps from a student until the teacher's release rule lets them see it.

A quiz that uses a pack's items would be no test if the same items could be practised with
feedback meanwhile, or if the student's mastery bars moved with each quiz answer: either tells
which answer is right. So while a quiz is held for a student (below), its pack items cannot be
practised with feedback, and its answers are left out of the mastery the student is shown
(teachers still see them).

A quiz is held for a student from the moment it is assigned to them until its results are
released to them and they can answer it no more (it is closed, or they have used every go).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import NamedTuple

from flask_babel import lazy_gettext
from peewee import JOIN, fn

from ..db import database
from ..models import Assignment, AssignmentItem, LearningRecord, QuizAttempt, User, utcnow
from .assignments import assigned_to, is_open, results_released


HELD_MESSAGE = lazy_gettext("This question is in a quiz you have not finished yet: practise it once the quiz's "
                            "results are out.")


@dataclass(frozen=True)
class Held:
    quizzes: frozenset[str]  # ids of the quizzes held for this student
    items: frozenset[tuple[str, str, str | None]]  # their pack items (pack, node, item; None: every item of the node)

    def holds(self, pack_id: str, node_id: str, item_id: str) -> bool:
        return (pack_id, node_id, item_id) in self.items or (pack_id, node_id, None) in self.items


class _Quiz(NamedTuple):
    """The fields of a quiz (models.Assignment) that its release rules read (results_released,
    is_open): read with held_for's query, without making a model row (its defaults alone, a new
    id and a time, cost as much as the rest)."""
    results: str
    due_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    released_at: datetime.datetime | None
    attempts: int


def _is_held(quiz: Assignment | _Quiz, goes: int, in_progress: bool, now: datetime.datetime) -> bool:
    """`goes`: how many goes the student has had at the quiz; `in_progress`: one of them is not handed in."""
    if not results_released(quiz, now):
        return True
    can_answer = is_open(quiz, now) and (in_progress or goes < quiz.attempts)
    return can_answer


# Asked on every practice page and answer: one query (each query hands the GIL to another request
# thread), its SQL built once per database kind (peewee would build it anew each time). A row per
# pack part of each quiz assigned to the student (one row with no part when it has none), with the
# quiz's release fields and how many goes the student has at it, and how many are still going.
_STUDENT = -1  # stands for the student's id while the SQL is built
_held_sql: dict[type, tuple[str, list]] = {}


def _held_query() -> tuple[str, list]:
    kind = type(database.obj)
    found = _held_sql.get(kind)
    if found is None:
        goes = QuizAttempt.select(fn.COUNT(QuizAttempt.id)).where(QuizAttempt.assignment == Assignment.id,
                                                                 QuizAttempt.user == _STUDENT)
        going = goes.where(QuizAttempt.submitted_at.is_null())
        query = (assigned_to(User(id=_STUDENT)).where(Assignment.kind == "quiz")
                 .select(Assignment.id, Assignment.results, Assignment.due_at, Assignment.closed_at,
                         Assignment.released_at, Assignment.attempts, goes, going,
                         AssignmentItem.pack_id, AssignmentItem.node_id, AssignmentItem.item_id)
                 .join(AssignmentItem, JOIN.LEFT_OUTER,
                       on=(AssignmentItem.assignment == Assignment.id) & AssignmentItem.item_data.is_null()))
        found = _held_sql[kind] = query.sql()
    return found


def held_for(user: User, now: datetime.datetime | None = None) -> Held:
    """The quizzes held for this student now, and their pack items."""
    now = now or utcnow()
    sql, params = _held_query()
    values = [user.id if value == _STUDENT else value for value in params]
    rows = database.obj.execute_sql(sql, values).fetchall()  # not through the proxy (db.run_sql says why)
    if not rows:
        return Held(frozenset(), frozenset())
    dated = Assignment.due_at.python_value
    held: dict[str, bool] = {}
    items = set()
    for quiz_id, results, due_at, closed_at, released_at, attempts, goes, going, pack_id, node_id, item_id in rows:
        if quiz_id not in held:
            quiz = _Quiz(results, dated(due_at), dated(closed_at), dated(released_at), attempts)
            held[quiz_id] = _is_held(quiz, goes, going > 0, now)
        if held[quiz_id] and pack_id is not None:
            items.add((pack_id, node_id, item_id))
    return Held(frozenset(quiz for quiz, holds in held.items() if holds), frozenset(items))


def hidden_answers(user: User, held: Held | None = None) -> frozenset[str]:
    """The quizzes whose answers the student's own mastery must leave out now: those held for them
    (`held`, else worked out now) that they answered something in."""
    held = (held or held_for(user)).quizzes
    if not held:
        return frozenset()
    answered = (LearningRecord.select(LearningRecord.assignment).distinct()
                .where(LearningRecord.user == user.id, LearningRecord.verb == "answered",
                       LearningRecord.assignment.in_(list(held))).tuples())
    return frozenset(quiz for (quiz,) in answered)
