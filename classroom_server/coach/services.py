"""What a teacher may see and change: only their own classes (admins: all)."""
from __future__ import annotations

from peewee import JOIN, fn

from ..models import Classroom, Membership, User


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
