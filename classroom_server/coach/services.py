"""What a teacher may see and change: only their own classes (admins: all)."""
from __future__ import annotations

import collections
import datetime
import json

from peewee import JOIN, fn

from ..accounts import services as accounts
from ..collation import NAMES
from ..db import database
from ..i18n import Problem
from ..models import (Assignment, AssignmentItem, AssignmentStudent, Classroom, ExtraTry, Membership, QuizAttempt,
                      TeacherComment, User, utcnow)


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
                .order_by(User.display_name.collate(NAMES)))


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
    return _store(classroom, teacher, title, kind, starts_at, due_at, time_limit_minutes, attempts, results, parts,
                  students, now)


def _store(classroom: Classroom, teacher: User | None, title: str, kind: str, starts_at: datetime.datetime | None,
           due_at: datetime.datetime | None, time_limit_minutes: int | None, attempts: int, results: str,
           parts: list, students, now: datetime.datetime, national_id: str | None = None) -> Assignment:
    """An assignment checked already, stored in one transaction at the end of the class's list."""
    with database.atomic():
        last = (Assignment.select(fn.MAX(Assignment.position)).where(Assignment.classroom == classroom.id)
                .scalar() or 0)
        assignment = Assignment.create(
            classroom=classroom.id, title=title, kind=kind, created_by=teacher.id if teacher else None,
            created_at=now, starts_at=starts_at, due_at=due_at, position=last + 1,
            time_limit_minutes=time_limit_minutes if kind == "quiz" else None,
            attempts=attempts if kind == "quiz" else 1, results=results if kind == "quiz" else "submitted",
            national_id=national_id)
        if parts:
            AssignmentItem.insert_many([_part_row(assignment, index, part)
                                        for index, part in enumerate(parts)]).execute()
        if students:
            AssignmentStudent.insert_many([{"assignment": assignment.id, "user": s.id} for s in students]).execute()
    return assignment


# --- national assignments (the agent's roster step gives them as the national platform sent them) ---------

def give_national_assignment(classroom: Classroom, national_id: str, title: str, kind: str,
                             starts_at: datetime.datetime | None, due_at: datetime.datetime | None,
                             time_limit_minutes: int | None, attempts: int, results: str, parts: list,
                             now: datetime.datetime | None = None) -> Assignment:
    """A national assignment for one class: `parts` are (pack id, node id, item id or None). Not checked
    as a teacher's is: the national platform checked it, and its dates may have passed already."""
    return _store(classroom, None, title[:200], kind, starts_at, due_at, time_limit_minutes, attempts, results,
                  parts, (), now or utcnow(), national_id=national_id)


def update_national_assignment(national_id: str, title: str, starts_at: datetime.datetime | None,
                               due_at: datetime.datetime | None) -> None:
    """The national platform changed the title or dates: every class's copy follows."""
    Assignment.update(title=title[:200], starts_at=starts_at, due_at=due_at) \
        .where(Assignment.national_id == national_id).execute()


def close_national_assignment(national_id: str, now: datetime.datetime | None = None) -> None:
    """The national platform withdrew it: every class's copy still open is closed (work done stays)."""
    Assignment.update(closed_at=now or utcnow()).where(Assignment.national_id == national_id,
                                                       Assignment.closed_at.is_null()).execute()


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
                .where(AssignmentStudent.assignment == assignment.id).order_by(User.display_name.collate(NAMES)))


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
                    now: datetime.datetime | None = None, title: str | None = None) -> Assignment:
    """The same work for a class, this one or another (for the whole class; dates kept unless past)."""
    now = now or utcnow()
    return create_assignment(
        classroom, teacher, title or assignment.title,
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


# --- a teacher's own classes ----------------------------------------------------------------------

#: the school setting (admin settings page) that lets teachers create classes: "1" yes, else no
TEACHERS_CREATE_CLASSES = "teachers_create_classes"


def teachers_may_create_classes() -> bool:
    return accounts.get_setting(TEACHERS_CREATE_CLASSES, "0") == "1"


def allow_teachers_to_create_classes(allowed: bool) -> None:
    accounts.put_setting(TEACHERS_CREATE_CLASSES, "1" if allowed else "0")


def create_own_class(teacher: User, name: str, grade: int | None, signin_mode: str) -> Classroom:
    """A class the teacher made, with the teacher in it (when the school allows it; admins always may)."""
    if teacher.role != "admin" and not teachers_may_create_classes():
        raise AssignmentError("the school's IT person has not allowed teachers to create classes: ask them, "
                              "or ask them to create the class for you")
    if grade is not None and not 0 <= grade <= 12:
        raise AssignmentError("a grade is from 0 to 12")
    with database.atomic():
        room = accounts.create_classroom(name, grade, signin_mode)
        accounts.enrol(teacher, room)
    return room


# --- another try at a quiz, results, comments ------------------------------------------------------

def _student_in(student: User, assignment: Assignment) -> None:
    classroom = Classroom.get_by_id(assignment.classroom_id)
    if not accounts.is_student_of(student, classroom):
        raise AssignmentError("%(name)s is not in class %(classroom)s", name=student.display_name,
                              classroom=classroom.name)


def give_another_try(assignment: Assignment, student: User, teacher: User,
                     now: datetime.datetime | None = None) -> int:
    """One more go at an open quiz for this student only; returns the goes they now have in all."""
    now = now or utcnow()
    if assignment.kind != "quiz":
        raise AssignmentError("another try is for quizzes")
    if assignment.closed_at is not None and assignment.closed_at <= now:
        raise AssignmentError("the quiz is closed: open it again first, then give the try")
    _student_in(student, assignment)
    with database.atomic():
        (ExtraTry.insert(assignment=assignment.id, user=student.id, extra=1, granted_by=teacher.id, granted_at=now)
         .on_conflict(conflict_target=[ExtraTry.assignment, ExtraTry.user],
                      update={ExtraTry.extra: ExtraTry.extra + 1, ExtraTry.granted_by: teacher.id,
                              ExtraTry.granted_at: now}).execute())
    return tries_allowed(assignment)[student.id]


def tries_allowed(assignment: Assignment) -> collections.defaultdict:
    """student id -> goes at the quiz: the quiz's own number plus any the teacher gave that student."""
    found = collections.defaultdict(lambda: assignment.attempts)
    for user_id, extra in (ExtraTry.select(ExtraTry.user, ExtraTry.extra)
                           .where(ExtraTry.assignment == assignment.id).tuples()):
        found[user_id] = assignment.attempts + extra
    return found


def tries_used(assignment: Assignment) -> dict[int, int]:
    """student id -> goes started at the quiz."""
    return dict(QuizAttempt.select(QuizAttempt.user, fn.COUNT(QuizAttempt.id))
                .where(QuizAttempt.assignment == assignment.id).group_by(QuizAttempt.user).tuples())


COMMENT_MAX = 2000


def add_comment(assignment: Assignment, student: User, teacher: User, text: str,
                now: datetime.datetime | None = None) -> TeacherComment:
    text = text.strip()
    if not text:
        raise AssignmentError("write the comment first")
    if len(text) > COMMENT_MAX:
        raise AssignmentError("a comment is at most %(count)d characters", count=COMMENT_MAX)
    _student_in(student, assignment)
    return TeacherComment.create(assignment=assignment.id, student=student.id, author=teacher.id, text=text,
                                 created_at=now or utcnow())


def comments(assignment: Assignment) -> dict[int, list[TeacherComment]]:
    """student id -> the teacher's comments to them on this assignment, oldest first."""
    found: dict[int, list[TeacherComment]] = collections.defaultdict(list)
    for row in (TeacherComment.select().where(TeacherComment.assignment == assignment.id)
                .order_by(TeacherComment.created_at, TeacherComment.id)):
        found[row.student_id].append(row)
    return found
