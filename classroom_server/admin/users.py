"""The admin page's work on accounts: the people list with their classes, password resets, and
deactivating (never deleting: a person's learning records stay theirs)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..accounts.services import AccountError, end_sessions, new_student_secret, set_password, set_student_secret
from ..collation import NAMES
from ..db import database
from ..models import ROLES, Classroom, LearningRecord, Membership, User

# No 0/O, 1/l/I: the password is read off a screen and typed on another device.
_PASSWORD_LETTERS = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class Person:
    user: User
    classes: list[str]


def people(role: str | None, query: str, page: int, size: int) -> tuple[list[Person], int]:
    """A page of people (by role, then name), each with their class names; and how many there are."""
    users = User.select().order_by(User.role, User.display_name.collate(NAMES))
    if role in ROLES:
        users = users.where(User.role == role)
    if query:
        users = users.where(User.display_name.contains(query) | User.username.contains(query.lower()))
    total = users.count()
    rows = list(users.paginate(page, size))
    classes: dict[int, list[str]] = {}
    if rows:
        for user_id, name in (Membership.select(Membership.user, Classroom.name).join(Classroom)
                              .where(Membership.user.in_([u.id for u in rows]))
                              .order_by(Classroom.grade, Classroom.name).tuples()):
            classes.setdefault(user_id, []).append(name)
    return [Person(u, classes.get(u.id, [])) for u in rows], total


def records_of(user: User) -> int:
    return LearningRecord.select().where(LearningRecord.user == user.id).count()


def new_password() -> str:
    """A one-time password: 12 letters and digits in three groups, easy to read out and type."""
    letters = "".join(secrets.choice(_PASSWORD_LETTERS) for _ in range(12))
    return "-".join(letters[i:i + 4] for i in range(0, 12, 4))


def reset_password(actor: User, user: User, password: str | None) -> str:
    """Give a teacher or administrator a new password (`password`, or a new one-time password) and
    sign them out everywhere; returns the password. Call inside a transaction with its audit row."""
    if user.role == "student":
        raise AccountError("students sign in with their class's PIN or picture code: their teacher sets it on "
                           "the class page")
    if user.id == actor.id:
        raise AccountError("change your own password on your account page")
    password = password or new_password()
    set_password(user, password)
    return password


def reset_student_secret(user: User) -> tuple[Classroom, str]:
    """A new random PIN or picture code for a student, for the class they sign in with; (the class,
    the code). Call inside a transaction with its audit row."""
    if user.role != "student":
        raise AccountError("only students sign in with a PIN or picture code")
    rooms = list(Classroom.select().join(Membership).where(Membership.user == user.id, Membership.role == "student",
                                                           Classroom.signin_mode != "name")
                 .order_by(Classroom.grade, Classroom.name))
    if not rooms:
        raise AccountError("this student's class signs in by name only: there is no PIN or picture code to reset")
    room = rooms[0]
    secret = new_student_secret(room.signin_mode)
    set_student_secret(user, room, secret)
    return room, secret


def taught_classes(user: User) -> list[Classroom]:
    return list(Classroom.select().join(Membership).where(Membership.user == user.id, Membership.role == "teacher")
                .order_by(Classroom.grade, Classroom.name))


def active_teachers(but: User | None = None) -> list[User]:
    query = User.select().where(User.role == "teacher", User.is_active == True)  # noqa: E712
    if but is not None:
        query = query.where(User.id != but.id)
    return list(query.order_by(User.display_name.collate(NAMES)))


def hand_over_classes(user: User, successor: User) -> list[str]:
    """`successor` teaches every class `user` teaches (user stays listed, as who taught it before);
    the class names. Call inside a transaction with its audit row."""
    if successor.role != "teacher" or not successor.is_active or successor.id == user.id:
        raise AccountError("choose another active teacher to take the classes")
    rooms = taught_classes(user)
    for room in rooms:
        Membership.insert(classroom=room.id, user=successor.id, role="teacher").on_conflict_ignore().execute()
    return [room.name for room in rooms]


def classes_without_teacher() -> list[Classroom]:
    """Classes no active teacher teaches (theirs was deactivated, or none was ever given)."""
    taught = (Membership.select(Membership.classroom).join(User)
              .where(Membership.role == "teacher", User.is_active == True))  # noqa: E712
    return list(Classroom.select().where(Classroom.id.not_in(taught)).order_by(Classroom.grade, Classroom.name))


def set_active(actor: User, user: User, active: bool) -> bool:
    """Deactivate (they cannot sign in, and are signed out) or reactivate an account; its records stay.
    Returns whether anything changed."""
    if user.id == actor.id and not active:
        raise AccountError("you cannot deactivate your own account")
    if user.is_active == active:
        return False
    with database.atomic():
        User.update(is_active=active).where(User.id == user.id).execute()
        if not active:
            end_sessions(user)
    return True
