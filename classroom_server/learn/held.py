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

from flask_babel import lazy_gettext

from ..db import Prepared
from ..models import Assignment, LearningRecord, QuizAttempt, User, utcnow
from .assignments import _parts_of, assigned_to, is_open, results_released


HELD_MESSAGE = lazy_gettext("This question is in a quiz you have not finished yet: practise it once the quiz's "
                            "results are out.")


@dataclass(frozen=True)
class Held:
    quizzes: frozenset[str]  # ids of the quizzes held for this student
    items: frozenset[tuple[str, str, str | None]]  # their pack items (pack, node, item; None: every item of the node)

    def holds(self, pack_id: str, node_id: str, item_id: str) -> bool:
        return (pack_id, node_id, item_id) in self.items or (pack_id, node_id, None) in self.items


def _is_held(quiz: Assignment, goes: list[QuizAttempt], now: datetime.datetime) -> bool:
    if not results_released(quiz, now):
        return True
    in_progress = any(go.submitted_at is None for go in goes)
    can_answer = is_open(quiz, now) and (in_progress or len(goes) < quiz.attempts)
    return can_answer


# Asked on every practice answer: SQL built once (peewee would build it anew each time, ~1 ms).
_QUIZZES = Prepared(lambda: assigned_to(User(id=0)).where(Assignment.kind == "quiz"))
_GOES = Prepared(lambda: QuizAttempt.select().where(QuizAttempt.user == 0))


def held_for(user: User, now: datetime.datetime | None = None) -> Held:
    """The quizzes held for this student now, and their pack items."""
    now = now or utcnow()
    quizzes = _QUIZZES(user.id, "student", user.id, "quiz")
    if not quizzes:
        return Held(frozenset(), frozenset())
    goes: dict[str, list[QuizAttempt]] = {}
    for go in _GOES(user.id):
        goes.setdefault(go.assignment_id, []).append(go)
    held = frozenset(q.id for q in quizzes if _is_held(q, goes.get(q.id, []), now))
    items = frozenset((part.pack_id, part.node_id, part.item_id) for part in (_parts_of(sorted(held)) if held else [])
                      if part.item_data is None)
    return Held(held, items)


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
