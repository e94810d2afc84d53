"""A teacher's day: another try at a quiz for one student (extra_try) and a teacher's comment to a
student on an assignment (teacher_comment)."""
from __future__ import annotations

import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class User(Model):
    class Meta:
        table_name = "user"


class Assignment(Model):
    id = CharField(max_length=36, primary_key=True)

    class Meta:
        table_name = "assignment"


class ExtraTry(Model):
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    extra = IntegerField(default=1)
    granted_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    granted_at = DateTimeField(default=_now)

    class Meta:
        table_name = "extra_try"
        indexes = ((("assignment", "user"), True),)


class TeacherComment(Model):
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    student = ForeignKeyField(User, on_delete="CASCADE")
    author = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    text = TextField()
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "teacher_comment"
        indexes = ((("assignment", "student", "created_at"), False),)


def up(db):
    with db.bind_ctx([User, Assignment, ExtraTry, TeacherComment]):
        db.create_tables([ExtraTry, TeacherComment])
