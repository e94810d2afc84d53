"""What a teacher may see and change: only their own classes (admins: all)."""
from __future__ import annotations

import datetime

from peewee import JOIN, fn

from ..accounts import services as accounts
from ..db import database
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


class AssignmentError(ValueError):
    """The assignment cannot be made as asked; the message says what to change."""


RESULTS_RULES = ("submitted", "due", "teacher")


def create_assignment(classroom: Classroom, teacher: User | None, title: str,
                      parts: list[tuple[str, str, str | None]], *, kind: str = "work",
                      starts_at: datetime.datetime | None = None, due_at: datetime.datetime | None = None,
                      time_limit_minutes: int | None = None, attempts: int = 1, results: str = "submitted",
                      students: list[User] | tuple[User, ...] = (),
                      now: datetime.datetime | None = None) -> Assignment:
    """Give a class (or some of its students) work: `parts` are (pack id, node id, item id or None).

    Times are naive UTC. Everything is checked first; then it is stored in one transaction.
    """
    now = now or utcnow()
    title = title.strip()
    if not title or len(title) > 200:
        raise AssignmentError("give the assignment a title of at most 200 characters")
    if kind not in ("work", "quiz"):
        raise AssignmentError("an assignment is work or a quiz")
    if not parts:
        raise AssignmentError("choose at least one lesson, chapter, exercise or question")
    if due_at is not None and due_at < now:
        raise AssignmentError("the due date is in the past")
    if starts_at is not None and due_at is not None and due_at <= starts_at:
        raise AssignmentError("the due date comes before the start")
    if kind == "quiz":
        if time_limit_minutes is not None and not 1 <= time_limit_minutes <= 600:
            raise AssignmentError("a time limit is from 1 to 600 minutes")
        if not 1 <= attempts <= 20:
            raise AssignmentError("tries at a quiz: from 1 to 20")
        if results not in RESULTS_RULES:
            raise AssignmentError("results are shown after handing in, after the due date, or when you release them")
    for student in students:
        if not accounts.is_student_of(student, classroom):
            raise AssignmentError(f"{student.display_name} is not in class {classroom.name}")
    with database.atomic():
        last = (Assignment.select(fn.MAX(Assignment.position)).where(Assignment.classroom == classroom.id)
                .scalar() or 0)
        assignment = Assignment.create(
            classroom=classroom.id, title=title, kind=kind, created_by=teacher.id if teacher else None,
            created_at=now, starts_at=starts_at, due_at=due_at, position=last + 1,
            time_limit_minutes=time_limit_minutes if kind == "quiz" else None,
            attempts=attempts if kind == "quiz" else 1, results=results if kind == "quiz" else "submitted")
        AssignmentItem.insert_many([
            {"assignment": assignment.id, "position": index, "pack_id": pack_id, "node_id": node_id,
             "item_id": item_id} for index, (pack_id, node_id, item_id) in enumerate(parts)]).execute()
        if students:
            AssignmentStudent.insert_many([{"assignment": assignment.id, "user": s.id} for s in students]).execute()
    return assignment


def release_results(assignment: Assignment, now: datetime.datetime | None = None) -> None:
    Assignment.update(released_at=now or utcnow()).where(Assignment.id == assignment.id).execute()


def close_assignment(assignment: Assignment, now: datetime.datetime | None = None) -> None:
    Assignment.update(closed_at=now or utcnow()).where(Assignment.id == assignment.id,
                                                       Assignment.closed_at.is_null()).execute()
