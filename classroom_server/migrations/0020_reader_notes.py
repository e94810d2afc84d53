"""A student's bookmarks, highlights and notes in e-textbooks (reader_note), theirs alone."""
from __future__ import annotations

import datetime
import uuid

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class User(Model):
    class Meta:
        table_name = "user"


class ReaderNote(Model):
    id = CharField(max_length=36, primary_key=True, default=lambda: str(uuid.uuid4()))
    user = ForeignKeyField(User, on_delete="CASCADE")
    pack_id = CharField(max_length=128)
    book_id = CharField(max_length=128)
    chapter_id = CharField(max_length=128)
    chapter_path = CharField(max_length=512)
    page = IntegerField(null=True)
    kind = CharField(max_length=12)
    exact = TextField(default="")
    prefix = CharField(max_length=64, default="")
    suffix = CharField(max_length=64, default="")
    position = IntegerField(default=0)
    text = TextField(default="")
    lost = BooleanField(default=False)
    created_at = DateTimeField(default=_now)
    updated_at = DateTimeField(default=_now)

    class Meta:
        table_name = "reader_note"
        indexes = ((("user", "pack_id", "book_id", "created_at"), False), (("pack_id",), False))


def up(db):
    with db.bind_ctx([User, ReaderNote]):
        db.create_tables([ReaderNote])
