"""Assigned work as a student sees it: what is open for them, and how far they got with each part.

A part counts as done from the student's own records made since the work was assigned: a lesson,
a media node or an e-textbook once opened, a chapter once read to its end, an exercise once
completed; a quiz once handed in. Nothing here is stored: progress is derived from the records.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from ..db import Prepared, model_rows, placeholders, run_sql
from ..models import (Assignment, AssignmentItem, AssignmentStudent, LearningRecord, Membership, TeacherComment, User,
                      utcnow)

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


def assigned_to(user: User):
    """Assignments of the student's classes that are for them (started or not, open or closed)."""
    classes = Membership.select(Membership.classroom).where(Membership.user == user.id,
                                                            Membership.role == "student")
    targeted = AssignmentStudent.select(AssignmentStudent.assignment).where(AssignmentStudent.user == user.id)
    anyone = AssignmentStudent.select(AssignmentStudent.assignment)
    return Assignment.select().where(Assignment.classroom.in_(classes),
                                     Assignment.id.in_(targeted) | Assignment.id.not_in(anyone))


def _open_for(user: User, now: datetime.datetime):
    """Assignments of the student's classes that are for them, started and not closed."""
    return assigned_to(user).where(Assignment.starts_at.is_null() | (Assignment.starts_at <= now))


def get(user: User, assignment_id: str, now: datetime.datetime | None = None) -> Assignment:
    """The assignment if it is this student's (closed ones included: their results stay visible)."""
    found = _open_for(user, now or utcnow()).where(Assignment.id == assignment_id).first()
    if found is None:
        raise NotYours(assignment_id)
    return found


def _in_list(count: int) -> str:
    return f"({placeholders(count)})"


def _parts_of(assignment_ids: list[str]) -> list[AssignmentItem]:
    """The parts of these assignments in order: SQL written here (a student's home page asks every
    time, and peewee would build this query anew each time)."""
    return model_rows(AssignmentItem, run_sql(f"SELECT * FROM assignment_item WHERE assignment_id IN "
                                              f"{_in_list(len(assignment_ids))} ORDER BY position", assignment_ids))


def installed_nodes(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(pack id, node id) -> (kind, title JSON) for the nodes that are installed."""
    if not pairs:
        return {}
    packs = sorted({pack_id for pack_id, _ in pairs})
    nodes = sorted({node_id for _, node_id in pairs})
    rows = run_sql(
        "SELECT p.pack_id, n.node_id, n.kind, n.title FROM content_node AS n JOIN content_pack AS p"
        f" ON n.pack_id = p.id WHERE p.pack_id IN {_in_list(len(packs))} AND n.node_id IN {_in_list(len(nodes))}",
        packs + nodes)
    return {(pack_id, node_id): (kind, title) for pack_id, node_id, kind, title in rows
            if (pack_id, node_id) in pairs}


# When the student last did a verb for a node, from a time on: one index walk each.
# - "opened" comes again and again (each view of a lesson): the node's records newest first along
#   the (user, pack, node) index, where the newest is nearly always an "opened";
# - "read" and "completed" come a few times a node: the largest time among them, from the
#   (user, verb, pack, node, ...) index alone.
# A GROUP BY with MAX over them all read every "opened" of the node (before it named the packs,
# every one the student ever made): the home page grew slower with each view of a lesson.
_LATEST = {
    "opened": ("(SELECT created_at FROM learning_record WHERE user_id = ? AND pack_id = ? AND node_id = ?"
               " AND verb = ? AND created_at >= ? ORDER BY seq DESC LIMIT 1)"),
    "other": ("(SELECT MAX(created_at) FROM learning_record WHERE user_id = ? AND pack_id = ? AND node_id = ?"
              " AND verb = ? AND created_at >= ?)"),
}


LOOKUPS_PER_QUERY = 200


def _last_done(user: User, wanted: set[tuple[str, str, str]],
               since: datetime.datetime) -> dict[tuple[str, str, str], datetime.datetime]:
    """(pack id, node id, verb) -> when the student last did that, from `since` on (one query for
    every assignment shown; each assignment then counts only what came after it was made)."""
    triples = sorted(wanted)
    after = LearningRecord.created_at.db_value(since)
    stored_at = LearningRecord.created_at.python_value
    found: dict[tuple[str, str, str], datetime.datetime] = {}
    # SQLite takes at most 500 SELECTs in one UNION (SQLITE_MAX_COMPOUND_SELECT): a student with
    # very many assigned parts gets a query per LOOKUPS_PER_QUERY of them.
    for start in range(0, len(triples), LOOKUPS_PER_QUERY):
        some = triples[start:start + LOOKUPS_PER_QUERY]
        rows = run_sql(" UNION ALL ".join(f"SELECT ?, ?, ?, {_LATEST['opened' if verb == 'opened' else 'other']}"
                                          for _, _, verb in some),
                       [value for pack_id, node_id, verb in some
                        for value in (pack_id, node_id, verb, user.id, pack_id, node_id, verb, after)])
        found.update({(pack_id, node_id, verb): stored_at(when) for pack_id, node_id, verb, when in rows
                      if when is not None})
    return found


def _submitted(user: User, quiz_ids: list[str]) -> set[str]:
    if not quiz_ids:
        return set()
    return {row[0] for row in run_sql(
        "SELECT assignment_id FROM quiz_attempt WHERE user_id = ? AND assignment_id IN "
        f"{_in_list(len(quiz_ids))} AND submitted_at IS NOT NULL", [user.id, *quiz_ids])}


def describe(user: User, assignments: list[Assignment], now: datetime.datetime | None = None) -> list[StudentAssignment]:
    """Each assignment with its parts and how many of them this student has done."""
    now = now or utcnow()
    parts_of: dict[str, list[AssignmentItem]] = {a.id: [] for a in assignments}
    if parts_of:
        for part in _parts_of(list(parts_of)):
            parts_of[part.assignment_id].append(part)
    pairs = {(p.pack_id, p.node_id) for parts in parts_of.values() for p in parts}
    nodes = installed_nodes(pairs)
    work = [a for a in assignments if a.kind != "quiz"]
    since = min((a.created_at for a in work), default=now)
    done = _last_done(user, {(p.pack_id, p.node_id, verb) for a in work for p in parts_of[a.id]
                             for verb in DONE_VERBS.get(nodes.get((p.pack_id, p.node_id), (None,))[0], ())},
                      since)
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


# Every student's home page runs this: its SQL is built once (db.Prepared). Parameters: the
# student's id, "student", the student's id, now, now.
_OPEN_NOW = Prepared(lambda: _open_for(User(id=0), datetime.datetime(2000, 1, 1)).where(
    Assignment.closed_at.is_null() | (Assignment.closed_at > datetime.datetime(2000, 1, 1)))
    .order_by(Assignment.due_at.is_null(), Assignment.due_at, Assignment.position, Assignment.created_at))


def for_student(user: User, now: datetime.datetime | None = None) -> list[StudentAssignment]:
    """The student's open assignments: soonest due first, then in the teacher's order."""
    now = now or utcnow()
    when = Assignment.starts_at.db_value(now)
    return describe(user, _OPEN_NOW(user.id, "student", user.id, when, when), now)


def teacher_comments(user: User, assignment: Assignment) -> list[TeacherComment]:
    """What the teacher wrote to this student about this assignment, oldest first."""
    return list(TeacherComment.select().where(TeacherComment.assignment == assignment.id,
                                              TeacherComment.student == user.id)
                .order_by(TeacherComment.created_at, TeacherComment.id))


def is_open(assignment: Assignment, now: datetime.datetime) -> bool:
    return assignment.closed_at is None or assignment.closed_at > now


def results_released(assignment: Assignment, now: datetime.datetime | None = None) -> bool:
    """Whether students may see their scores and the right answers now."""
    now = now or utcnow()
    if assignment.results == "submitted":
        return True
    if assignment.results == "due":
        ended = [moment for moment in (assignment.due_at, assignment.closed_at) if moment is not None]
        return bool(ended) and min(ended) <= now
    return assignment.released_at is not None and assignment.released_at <= now
