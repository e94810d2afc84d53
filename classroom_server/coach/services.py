"""What a teacher may see and change: only their own classes (admins: all)."""
from __future__ import annotations

import datetime
import json

from peewee import JOIN, fn

from ..accounts import services as accounts
from ..db import database
from ..i18n import Problem
from ..models import Assignment, AssignmentItem, AssignmentStudent, Classroom, Membership, User, utcnow


def visible_classrooms(user: User) -> list[Classroom]:
    query = (Classroom.select(Classroom, fn.COUNT(Membership.id).alias("student_count"))
             .join(Membership, join_type=JOIN.LEFT_OUTER,
                   on=((Membership.classroom == Classroom.id) & (Membership.role == "student")))
             .group_by(Classroom.id).order_by(Classroom.grade, Classroom.name))
    if user.role != "admin":
        taught = Membership.select(Membership.classroom).where(Membership.user == user,
                                                               Membership.role == "teacher")
        query = query.where(Classroom.id.in_(taught))
    return list(query)


def can_manage(user: User, classroom: Classroom) -> bool:
    if user.role == "admin":
        return True
    return Membership.select().where(Membership.classroom == classroom, Membership.user == user,
                                     Membership.role == "teacher").exists()


def class_teachers(classroom: Classroom) -> list[User]:
    return list(User.select().join(Membership).where(Membership.classroom == classroom,
                                                     Membership.role == "teacher")
                .order_by(User.display_name))


class AssignmentError(Problem):
    """The assignment cannot be made as asked; the message says what to change."""


RESULTS_RULES = ("submitted", "due", "teacher")


def _part_row(assignment: Assignment, position: int, part) -> dict:
    """A part as an assignment_item row: (pack id, node id, item id or None), or a teacher's own
    question (a dict in the pack item format; quizzes only)."""
    if isinstance(part, dict):
        return {"assignment": assignment.id, "position": position, "pack_id": "quiz", "node_id": assignment.id,
                "item_id": part["id"], "item_data": json.dumps(part, ensure_ascii=False)}
    pack_id, node_id, item_id = part
    return {"assignment": assignment.id, "position": position, "pack_id": pack_id, "node_id": node_id,
            "item_id": item_id, "item_data": None}


def create_assignment(classroom: Classroom, teacher: User | None, title: str,
                      parts: list, *, kind: str = "work",
                      starts_at: datetime.datetime | None = None, due_at: datetime.datetime | None = None,
                      time_limit_minutes: int | None = None, attempts: int = 1, results: str = "submitted",
                      students: list[User] | tuple[User, ...] = (),
                      now: datetime.datetime | None = None) -> Assignment:
    """Give a class (or some of its students) work: `parts` are (pack id, node id, item id or None),
    and for quizzes also a teacher's own questions (dicts in the pack item format).

    Times are naive UTC. Everything is checked first; then it is stored in one transaction.
    """
    now = now or utcnow()
    title = title.strip()
    if not title or len(title) > 200:
        raise AssignmentError("give the assignment a title of at most 200 characters")
    if kind not in ("work", "quiz"):
        raise AssignmentError("an assignment is work or a quiz")
    if kind == "work" and any(isinstance(part, dict) for part in parts):
        raise AssignmentError("your own questions go into quizzes")
    if not parts:
        raise AssignmentError("choose at least one lesson, chapter, exercise or question")
    _check_dates(starts_at, due_at, now)
    if kind == "quiz":
        if time_limit_minutes is not None and not 1 <= time_limit_minutes <= 600:
            raise AssignmentError("a time limit is from 1 to 600 minutes")
        if not 1 <= attempts <= 20:
            raise AssignmentError("tries at a quiz: from 1 to 20")
        if results not in RESULTS_RULES:
            raise AssignmentError("results are shown after handing in, after the due date, or when you release them")
    for student in students:
        if not accounts.is_student_of(student, classroom):
            raise AssignmentError("%(name)s is not in class %(classroom)s", name=student.display_name,
                                  classroom=classroom.name)
    with database.atomic():
        last = (Assignment.select(fn.MAX(Assignment.position)).where(Assignment.classroom == classroom.id)
                .scalar() or 0)
        assignment = Assignment.create(
            classroom=classroom.id, title=title, kind=kind, created_by=teacher.id if teacher else None,
            created_at=now, starts_at=starts_at, due_at=due_at, position=last + 1,
            time_limit_minutes=time_limit_minutes if kind == "quiz" else None,
            attempts=attempts if kind == "quiz" else 1, results=results if kind == "quiz" else "submitted")
        AssignmentItem.insert_many([_part_row(assignment, index, part) for index, part in enumerate(parts)]).execute()
        if students:
            AssignmentStudent.insert_many([{"assignment": assignment.id, "user": s.id} for s in students]).execute()
    return assignment


def release_results(assignment: Assignment, now: datetime.datetime | None = None) -> None:
    Assignment.update(released_at=now or utcnow()).where(Assignment.id == assignment.id).execute()


def close_assignment(assignment: Assignment, now: datetime.datetime | None = None) -> None:
    Assignment.update(closed_at=now or utcnow()).where(Assignment.id == assignment.id,
                                                       Assignment.closed_at.is_null()).execute()


def _check_dates(starts_at, due_at, now, was_due=None) -> None:
    if due_at is not None and due_at < now and due_at != was_due:
        raise AssignmentError("the due date is in the past")
    if starts_at is not None and due_at is not None and due_at <= starts_at:
        raise AssignmentError("the due date comes before the start")


def update_assignment(assignment: Assignment, title: str, starts_at: datetime.datetime | None,
                      due_at: datetime.datetime | None, *, time_limit_minutes: int | None = None,
                      attempts: int | None = None, results: str | None = None,
                      now: datetime.datetime | None = None) -> None:
    """Change the title, dates and (quizzes) rules; a due date already past may stay as it was."""
    now = now or utcnow()
    title = title.strip()
    if not title or len(title) > 200:
        raise AssignmentError("give the assignment a title of at most 200 characters")
    _check_dates(starts_at, due_at, now, was_due=assignment.due_at)
    changes = {Assignment.title: title, Assignment.starts_at: starts_at, Assignment.due_at: due_at}
    if assignment.kind == "quiz":
        if time_limit_minutes is not None and not 1 <= time_limit_minutes <= 600:
            raise AssignmentError("a time limit is from 1 to 600 minutes")
        if attempts is None or not 1 <= attempts <= 20:
            raise AssignmentError("tries at a quiz: from 1 to 20")
        if results not in RESULTS_RULES:
            raise AssignmentError("results are shown after handing in, after the due date, or when you release them")
        changes.update({Assignment.time_limit_minutes: time_limit_minutes, Assignment.attempts: attempts,
                        Assignment.results: results})
    Assignment.update(changes).where(Assignment.id == assignment.id).execute()


def set_targets(assignment: Assignment, students: list[User]) -> None:
    """For these students only (an empty list: the whole class)."""
    classroom = Classroom.get_by_id(assignment.classroom_id)
    for student in students:
        if not accounts.is_student_of(student, classroom):
            raise AssignmentError("%(name)s is not in class %(classroom)s", name=student.display_name,
                                  classroom=classroom.name)
    with database.atomic():
        AssignmentStudent.delete().where(AssignmentStudent.assignment == assignment.id).execute()
        if students:
            AssignmentStudent.insert_many([{"assignment": assignment.id, "user": s.id}
                                           for s in {s.id: s for s in students}.values()]).execute()


def targets(assignment: Assignment) -> list[User]:
    return list(User.select().join(AssignmentStudent, on=(AssignmentStudent.user == User.id))
                .where(AssignmentStudent.assignment == assignment.id).order_by(User.display_name))


def parts(assignment: Assignment) -> list[AssignmentItem]:
    return list(AssignmentItem.select().where(AssignmentItem.assignment == assignment.id)
                .order_by(AssignmentItem.position))


def _renumber(rows: list[AssignmentItem]) -> None:
    # Two steps past the unique (assignment, position) index: out of the way, then in order.
    with database.atomic():
        for index, row in enumerate(rows):
            AssignmentItem.update(position=-1 - index).where(AssignmentItem.id == row.id).execute()
        for index, row in enumerate(rows):
            AssignmentItem.update(position=index).where(AssignmentItem.id == row.id).execute()


def move_part(assignment: Assignment, part_id: int, step: int) -> None:
    rows = parts(assignment)
    index = next((i for i, row in enumerate(rows) if row.id == part_id), None)
    if index is None:
        raise AssignmentError("that part is not in this assignment")
    target = index + step
    if 0 <= target < len(rows):
        rows[index], rows[target] = rows[target], rows[index]
        _renumber(rows)


def remove_part(assignment: Assignment, part_id: int) -> None:
    rows = parts(assignment)
    if not any(row.id == part_id for row in rows):
        raise AssignmentError("that part is not in this assignment")
    if len(rows) == 1:
        raise AssignmentError("an assignment keeps at least one part: close it instead")
    with database.atomic():
        AssignmentItem.delete().where(AssignmentItem.id == part_id).execute()
        _renumber([row for row in rows if row.id != part_id])


def add_parts(assignment: Assignment, new_parts: list) -> None:
    """Append parts (those already in it are skipped); own questions only to quizzes."""
    if assignment.kind != "quiz" and any(isinstance(part, dict) for part in new_parts):
        raise AssignmentError("your own questions go into quizzes")
    rows = parts(assignment)
    known = {(row.pack_id, row.node_id, row.item_id) for row in rows}
    fresh = [part for part in new_parts if isinstance(part, dict) or tuple(part) not in known]
    if fresh:
        AssignmentItem.insert_many([_part_row(assignment, len(rows) + index, part)
                                    for index, part in enumerate(fresh)]).execute()


def copy_assignment(assignment: Assignment, classroom: Classroom, teacher: User,
                    now: datetime.datetime | None = None) -> Assignment:
    """The same work for another class (for the whole class; dates kept unless past)."""
    now = now or utcnow()
    return create_assignment(
        classroom, teacher, assignment.title,
        [json.loads(row.item_data) if row.item_data else (row.pack_id, row.node_id, row.item_id)
         for row in parts(assignment)],
        kind=assignment.kind, starts_at=assignment.starts_at,
        due_at=assignment.due_at if assignment.due_at is None or assignment.due_at > now else None,
        time_limit_minutes=assignment.time_limit_minutes, attempts=assignment.attempts,
        results=assignment.results, now=now)


def reopen_assignment(assignment: Assignment) -> None:
    Assignment.update(closed_at=None).where(Assignment.id == assignment.id).execute()


def class_assignments(classroom: Classroom) -> list[Assignment]:
    return list(Assignment.select().where(Assignment.classroom == classroom.id)
                .order_by(Assignment.closed_at.is_null(False), Assignment.position.desc()))
