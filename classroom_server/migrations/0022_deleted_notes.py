"""The ids of kept notes a student deleted (deleted_note): a late repeat of the device's send,
after its reply was lost, answers "already handled" instead of storing the deleted note again."""
from __future__ import annotations

from peewee import AutoField, CharField, ForeignKeyField, Model


class User(Model):
    class Meta:
        table_name = "user"


class DeletedNote(Model):
    id = AutoField()
    user = ForeignKeyField(User, on_delete="CASCADE", index=False)
    client_id = CharField(max_length=36)

    class Meta:
        table_name = "deleted_note"
        indexes = ((("user", "client_id"), True),)


def up(db):
    with db.bind_ctx([User, DeletedNote]):
        db.create_tables([DeletedNote])
