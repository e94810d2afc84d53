"""Assigned work as a student sees it: what is open for them, and how far they got with each part.

A part counts as done from the student's own records made since the work was assigned: a lesson,
a media node or an e-textbook once opened, a chapter once read to its end, an exercise once
completed; a quiz once handed in. Nothing here is stored: progress is derived from the records.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from peewee import fn

from ..models import (Assignment, AssignmentItem, AssignmentStudent, ContentNode, ContentPack, LearningRecord,
                      Membership, QuizAttempt, User, utcnow)

#: node kind -> the verbs that make it done
DONE_VERBS = {"lesson": ("opened",), "media": ("opened",), "ebook": ("opened", "read"),
              "topic": ("opened",), "chapter": ("read",), "exercise": ("completed",)}


class NotYours(LookupError):
    """No such assignment for this student (missing, another class's, not started yet)."""


@dataclass(frozen=True)
class Part:
    row: AssignmentItem
    kind: str | None  # the node's kind; None when its pack is no longer installed
    title: str | None  # JSON texts by language
    done: bool


@dataclass(frozen=True)
class StudentAssignment:
    assignment: Assignment
    parts: list[Part]
    done: int
    total: int
    overdue: bool

    @property
    def is_quiz(self) -> bool:
        return self.assignment.kind == "quiz"

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done == self.total


def _open_for(user: User, now: datetime.datetime):
    """Assignments of the student's classes that are for them, started and not closed."""
    classes = Membership.select(Membership.classroom).where(Membership.user == user.id,
                                                            Membership.role == "student")
    targeted = AssignmentStudent.select(AssignmentStudent.assignment).where(AssignmentStudent.user == user.id)
    anyone = AssignmentStudent.select(AssignmentStudent.assignment)
    return (Assignment.select().where(
        Assignment.classroom.in_(classes),
        Assignment.id.in_(targeted) | Assignment.id.not_in(anyone),
        Assignment.starts_at.is_null() | (Assignment.starts_at <= now)))


def get(user: User, assignment_id: str, now: datetime.datetime | None = None) -> Assignment:
    """The assignment if it is this student's (closed ones included: their results stay visible)."""
    found = _open_for(user, now or utcnow()).where(Assignment.id == assignment_id).first()
    if found is None:
        raise NotYours(assignment_id)
    return found


def installed_nodes(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(pack id, node id) -> (kind, title JSON) for the nodes that are installed."""
    if not pairs:
        return {}
    packs = {pack_id for pack_id, _ in pairs}
    rows = (ContentNode.select(ContentPack.pack_id, ContentNode.node_id, ContentNode.kind, ContentNode.title)
            .join(ContentPack).where(ContentPack.pack_id.in_(packs),
                                     ContentNode.node_id.in_({node_id for _, node_id in pairs})).tuples())
    return {(pack_id, node_id): (kind, title) for pack_id, node_id, kind, title in rows
            if (pack_id, node_id) in pairs}


def _last_done(user: User, pairs: set[tuple[str, str]],
               since: datetime.datetime) -> dict[tuple[str, str, str], datetime.datetime]:
    """(pack id, node id, verb) -> when the student last did that, from `since` on (one query for
    every assignment shown; each assignment then counts only what came after it was made)."""
    if not pairs:
        return {}
    rows = (LearningRecord.select(LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.verb,
                                  fn.MAX(LearningRecord.created_at))
            .where(LearningRecord.user == user.id, LearningRecord.created_at >= since,
                   LearningRecord.verb.in_(("opened", "read", "completed")),
                   LearningRecord.node_id.in_({node_id for _, node_id in pairs}))
            .group_by(LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.verb).tuples())
    return {(pack_id, node_id, verb): when for pack_id, node_id, verb, when in rows if (pack_id, node_id) in pairs}


def _submitted(user: User, quiz_ids: list[str]) -> set[str]:
    if not quiz_ids:
        return set()
    return {row[0] for row in QuizAttempt.select(QuizAttempt.assignment).where(
        QuizAttempt.user == user.id, QuizAttempt.assignment.in_(quiz_ids),
        QuizAttempt.submitted_at.is_null(False)).tuples()}


def describe(user: User, assignments: list[Assignment], now: datetime.datetime | None = None) -> list[StudentAssignment]:
    """Each assignment with its parts and how many of them this student has done."""
    now = now or utcnow()
    parts_of: dict[str, list[AssignmentItem]] = {a.id: [] for a in assignments}
    for part in (AssignmentItem.select().where(AssignmentItem.assignment.in_(list(parts_of)))
                 .order_by(AssignmentItem.position)):
        parts_of[part.assignment_id].append(part)
    pairs = {(p.pack_id, p.node_id) for parts in parts_of.values() for p in parts}
    nodes = installed_nodes(pairs)
    work = [a for a in assignments if a.kind != "quiz"]
    since = min((a.created_at for a in work), default=now)
    done = _last_done(user, {(p.pack_id, p.node_id) for a in work for p in parts_of[a.id]}, since)
    handed_in = _submitted(user, [a.id for a in assignments if a.kind == "quiz"])
    result = []
    for assignment in assignments:
        parts = []
        for part in parts_of[assignment.id]:
            kind, title = nodes.get((part.pack_id, part.node_id), (None, None))
            last = [done.get((part.pack_id, part.node_id, verb)) for verb in DONE_VERBS.get(kind or "", ())]
            finished = assignment.kind != "quiz" and any(when is not None and when >= assignment.created_at
                                                         for when in last)
            parts.append(Part(part, kind, title, finished))
        if assignment.kind == "quiz":
            total, count = 1, int(assignment.id in handed_in)
        else:
            total, count = len(parts), sum(p.done for p in parts)
        overdue = assignment.due_at is not None and assignment.due_at < now and count < total
        result.append(StudentAssignment(assignment, parts, count, total, overdue))
    return result


def for_student(user: User, now: datetime.datetime | None = None) -> list[StudentAssignment]:
    """The student's open assignments: soonest due first, then in the teacher's order."""
    now = now or utcnow()
    rows = list(_open_for(user, now).where(Assignment.closed_at.is_null() | (Assignment.closed_at > now))
                .order_by(Assignment.due_at.is_null(), Assignment.due_at, Assignment.position,
                          Assignment.created_at))
    return describe(user, rows, now)
