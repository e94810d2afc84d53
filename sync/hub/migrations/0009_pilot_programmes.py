"""Pilot programmes with their schools and plans, learners' weeks (active students and sessions per school
and week), operators' e-mail addresses and digest opt-in, and the digests mailed."""
from __future__ import annotations

import datetime

from peewee import (BigAutoField, BigIntegerField, BooleanField, CharField, CompositeKey, DateField, DateTimeField,
                    Field, IntegerField, Model, PostgresqlDatabase)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class PilotProgramme(Model):
    id = BigAutoField()
    name = CharField(max_length=200)
    subjects = JSONField(default=list)
    grades = JSONField(default=list)
    start = DateField()
    baseline_months = IntegerField(default=3)
    outcome = CharField(max_length=16, default="mastery")
    diagnostic_before = CharField(max_length=36, null=True)
    diagnostic_after = CharField(max_length=36, null=True)
    matching = CharField(max_length=16, default="chosen")
    plan_students = IntegerField(null=True)
    plan_sessions = IntegerField(null=True)
    region = CharField(max_length=100, null=True)
    district = CharField(max_length=100, null=True)
    created_by = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "pilot_programme"


class PilotSchool(Model):
    programme = BigIntegerField(column_name="programme_id")
    school = CharField(max_length=32, column_name="school_id")
    role = CharField(max_length=12)

    class Meta:
        table_name = "pilot_school"
        primary_key = CompositeKey("programme", "school")


class LearnerWeek(Model):
    school = CharField(max_length=32, column_name="school_id")
    week = DateField()
    learner = CharField(max_length=64)
    days = IntegerField(default=0)

    class Meta:
        table_name = "learner_week"
        primary_key = CompositeKey("school", "week", "learner")


class DigestSent(Model):
    operator = CharField(max_length=64, column_name="operator_id")
    week = CharField(max_length=8)
    sent_at = DateTimeField(default=_now)

    class Meta:
        table_name = "digest_sent"
        primary_key = CompositeKey("operator", "week")


def up(db) -> None:
    models = [PilotProgramme, PilotSchool, LearnerWeek, DigestSent]
    with db.bind_ctx(models):
        db.create_tables(models)
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("operator", "email", CharField(max_length=254, null=True)),
            migrator.add_column("operator", "digest_email", BooleanField(default=False)))
