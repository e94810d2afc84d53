"""Sync agent state: the cursor and figures (one row), "sync now" requests, and a log of attempts."""
from __future__ import annotations

import datetime

from peewee import AutoField, BigIntegerField, BooleanField, CharField, DateTimeField, IntegerField, Model, TextField


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class SyncState(Model):
    id = IntegerField(primary_key=True)
    hub_url = CharField(max_length=500, null=True)
    school_id = CharField(max_length=200, null=True)
    acked_seq = BigIntegerField(default=0)
    last_success_at = DateTimeField(null=True)
    last_attempt_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    last_error_code = CharField(max_length=32, null=True)
    bytes_sent = BigIntegerField(default=0)
    records_sent = BigIntegerField(default=0)
    batch_size = IntegerField(default=200)
    agent_version = CharField(max_length=64, null=True)
    updated_at = DateTimeField(default=_utcnow)

    class Meta:
        table_name = "sync_state"


class SyncRequest(Model):
    id = AutoField()
    requested_at = DateTimeField(default=_utcnow)
    requested_by = CharField(max_length=120, null=True)
    done_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "sync_request"


class SyncLog(Model):
    id = AutoField()
    started_at = DateTimeField(default=_utcnow)
    finished_at = DateTimeField(null=True)
    ok = BooleanField(null=True)
    error = TextField(null=True)
    error_code = CharField(max_length=32, null=True)
    records = IntegerField(default=0)
    bytes = BigIntegerField(default=0)

    class Meta:
        table_name = "sync_log"


def up(db):
    models = [SyncState, SyncRequest, SyncLog]
    with db.bind_ctx(models):
        db.create_tables(models)
        SyncState.create(id=1)
