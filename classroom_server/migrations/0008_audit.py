"""The audit log: one row per thing an administrator did (who, what, to what, from where)."""
from __future__ import annotations

import datetime

from peewee import AutoField, CharField, DateTimeField, IntegerField, Model, TextField


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class AuditLog(Model):
    id = AutoField()
    created_at = DateTimeField(default=_utcnow)
    actor_id = IntegerField(null=True)
    actor_name = CharField(max_length=120, null=True)
    action = CharField(max_length=32)
    target = CharField(max_length=255, null=True)
    details = TextField(default="{}")
    ip = CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_log"


def up(db):
    with db.bind_ctx([AuditLog]):
        db.create_tables([AuditLog])
