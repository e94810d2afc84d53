"""The school's own files (school_file): a teacher's picture for an assignment's instructions, kept in
the content blob store and counted against the teacher's and the school's quota."""
from __future__ import annotations

import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class User(Model):
    class Meta:
        table_name = "user"


class Assignment(Model):
    id = CharField(max_length=36, primary_key=True)

    class Meta:
        table_name = "assignment"


class SchoolFile(Model):
    sha256 = CharField(max_length=64, index=True)
    size = IntegerField()
    content_type = CharField(max_length=32)
    width = IntegerField()
    height = IntegerField()
    alt = CharField(max_length=300)
    owner = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    assignment = ForeignKeyField(Assignment, null=True, on_delete="CASCADE", backref="+")
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "school_file"


def up(db):
    with db.bind_ctx([User, Assignment, SchoolFile]):
        db.create_tables([SchoolFile])
