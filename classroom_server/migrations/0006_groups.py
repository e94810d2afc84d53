"""Groups of students within a class."""
from __future__ import annotations

import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, Model


class User(Model):
    class Meta:
        table_name = "user"


class Classroom(Model):
    class Meta:
        table_name = "classroom"


class StudentGroup(Model):
    classroom = ForeignKeyField(Classroom, on_delete="CASCADE")
    name = CharField(max_length=64)
    created_at = DateTimeField(default=lambda: datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))

    class Meta:
        table_name = "student_group"
        indexes = ((("classroom", "name"), True),)


class GroupMember(Model):
    group = ForeignKeyField(StudentGroup, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "group_member"
        indexes = ((("group", "user"), True),)


def up(db):
    with db.bind_ctx([StudentGroup, GroupMember, User, Classroom]):
        db.create_tables([StudentGroup, GroupMember])
