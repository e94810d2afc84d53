"""Operator accounts by level, their sessions, the audit log, and the national school register."""
from __future__ import annotations

import datetime

from peewee import (BigAutoField, BooleanField, CharField, DateTimeField, Field, IntegerField, Model)


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class RegisterSchool(Model):
    register_id = CharField(max_length=64, primary_key=True)
    hub_school = CharField(max_length=32, column_name="hub_school_id", null=True, unique=True)
    name = CharField(max_length=300)
    region = CharField(max_length=100, index=True)
    district = CharField(max_length=100)
    locality = CharField(max_length=200, null=True)
    rural = BooleanField(null=True)
    language = CharField(max_length=32, null=True)
    students = IntegerField(null=True)
    imported_at = DateTimeField(default=_now)

    class Meta:
        table_name = "register_school"
        indexes = ((("region", "district"), False),)


class Operator(Model):
    username = CharField(max_length=64, primary_key=True)
    display_name = CharField(max_length=120)
    password_hash = CharField(max_length=200)
    level = CharField(max_length=16)
    region = CharField(max_length=100, null=True)
    district = CharField(max_length=100, null=True)
    school = CharField(max_length=32, column_name="school_id", null=True)
    language = CharField(max_length=8, null=True)
    created_by = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=_now)
    disabled_at = DateTimeField(null=True)

    class Meta:
        table_name = "operator"


class OperatorSession(Model):
    token_sha256 = CharField(max_length=64, primary_key=True)
    operator = CharField(max_length=64, column_name="operator_id", index=True)
    csrf = CharField(max_length=64)
    created_at = DateTimeField(default=_now)
    seen_at = DateTimeField(default=_now)

    class Meta:
        table_name = "operator_session"


class AuditEntry(Model):
    id = BigAutoField()
    at = DateTimeField(default=_now, index=True)
    operator = CharField(max_length=64, column_name="operator_id", null=True, index=True)
    action = CharField(max_length=64)
    detail = JSONField(default=dict)
    address = CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_entry"


def up(db) -> None:
    models = [RegisterSchool, Operator, OperatorSession, AuditEntry]
    with db.bind_ctx(models):
        db.create_tables(models)
