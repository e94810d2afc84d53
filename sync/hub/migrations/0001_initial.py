"""Schools, learning records and nonces."""
from __future__ import annotations

import datetime
import json

from peewee import (BigIntegerField, CharField, CompositeKey, DateTimeField, Field, Model, TextField,
                    UUIDField)


class JSONField(Field):
    field_type = "JSON"

    def db_value(self, value):
        return None if value is None else json.dumps(value)


class School(Model):
    id = CharField(max_length=32, primary_key=True)
    name = CharField(max_length=200)
    region = CharField(max_length=100, null=True)
    secret = CharField(max_length=100)
    created_at = DateTimeField(default=datetime.datetime.utcnow)
    revoked_at = DateTimeField(null=True)
    acked = BigIntegerField(default=0)
    records_received = BigIntegerField(default=0)
    last_contact = DateTimeField(null=True)
    agent_version = CharField(max_length=200, null=True)
    forwarded = BigIntegerField(default=0)
    forward_error = TextField(null=True)
    forward_attempt_at = DateTimeField(null=True)

    class Meta:
        table_name = "school"


class Record(Model):
    school = CharField(max_length=32, column_name="school_id")
    seq = BigIntegerField()
    uuid = UUIDField()
    statement = JSONField()
    received_at = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "record"
        primary_key = CompositeKey("school", "seq")
        indexes = ((("school", "uuid"), True),)


class Nonce(Model):
    school = CharField(max_length=32, column_name="school_id")
    nonce = CharField(max_length=32)
    seen_at = DateTimeField(default=datetime.datetime.utcnow, index=True)

    class Meta:
        table_name = "nonce"
        primary_key = CompositeKey("school", "nonce")


def up(db):
    models = [School, Record, Nonce]
    with db.bind_ctx(models):
        db.create_tables(models)
