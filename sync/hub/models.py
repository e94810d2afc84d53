"""The hub's tables: enrolled schools, their learning records, per-day counts, and recent request nonces."""
from __future__ import annotations

import datetime
import json
from typing import Any

from peewee import (BigIntegerField, CharField, CompositeKey, DateField, DateTimeField, Field, Model, TextField,
                    UUIDField)

from .db import database


class JSONField(Field):
    """A JSON document: `json` on PostgreSQL, text on SQLite.

    `json`, not `jsonb`: PostgreSQL checks it on input and keeps the text as sent, and ingest is
    markedly faster without jsonb's conversion (see docs/BENCHMARKS.md); queries can still use
    ->> or cast to jsonb.
    """
    field_type = "JSON"

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, (str, bytes)) else value  # psycopg2 parses json itself


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class School(BaseModel):
    """An enrolled school. `secret` is kept as issued: HMAC verification needs the secret itself."""
    id = CharField(max_length=32, primary_key=True)
    name = CharField(max_length=200)
    region = CharField(max_length=100, null=True)
    secret = CharField(max_length=100)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    acked = BigIntegerField(default=0)  # highest seq n with 1..n all held
    records_received = BigIntegerField(default=0)
    last_contact = DateTimeField(null=True)
    agent_version = CharField(max_length=200, null=True)
    forwarded = BigIntegerField(default=0)  # every seq <= this has reached the external LRS
    forward_error = TextField(null=True)
    forward_attempt_at = DateTimeField(null=True)

    class Meta:
        table_name = "school"


class Record(BaseModel):
    """One learning record as an xAPI statement. Primary key (school, seq); (school, uuid) unique."""
    # No foreign key: the school comes from the request's verified signature, and a per-row
    # constraint check would cost ingest speed for nothing.
    school = CharField(max_length=32, column_name="school_id")
    seq = BigIntegerField()
    uuid = UUIDField()
    statement = JSONField()
    received_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "record"
        primary_key = CompositeKey("school", "seq")
        indexes = ((("school", "uuid"), True),)


class Nonce(BaseModel):
    """A request nonce seen within the replay window (pruned once older than NONCE_TTL_SECONDS)."""
    school = CharField(max_length=32, column_name="school_id")
    nonce = CharField(max_length=32)
    seen_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "nonce"
        primary_key = CompositeKey("school", "nonce")


class SchoolDay(BaseModel):
    """Records a school sent that the hub stored on one UTC day, counted in the batch's transaction.

    The dashboard reads these instead of scanning the record table; the key leads with the day so
    "the last 14 days, every school" is one index range.
    """
    day = DateField()
    school = CharField(max_length=32, column_name="school_id")
    records = BigIntegerField(default=0)

    class Meta:
        table_name = "school_day"
        primary_key = CompositeKey("day", "school")


MODELS = [School, Record, Nonce, SchoolDay]
