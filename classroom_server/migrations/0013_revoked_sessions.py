"""Signing out ends the session on the server: the signed-out cookies' ids, kept until they expire."""
from __future__ import annotations

from peewee import CharField, DateTimeField, Model


class RevokedSession(Model):
    sid = CharField(max_length=43, primary_key=True)
    expires_at = DateTimeField(index=True)

    class Meta:
        table_name = "revoked_session"


def up(db):
    with db.bind_ctx([RevokedSession]):
        db.create_tables([RevokedSession])
