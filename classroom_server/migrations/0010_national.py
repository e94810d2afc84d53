"""National rosters and assignments: national ids on people and assignments, local class moves,
the national assignments received, and the roster feed cursor (docs/rosters.md)."""
from __future__ import annotations

import datetime

from peewee import (BigIntegerField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, PostgresqlDatabase,
                    TextField)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class User(Model):
    class Meta:
        table_name = "user"


class RosterEdit(Model):
    user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    class_edited_at = DateTimeField(default=_utcnow)
    edited_by = IntegerField(null=True)

    class Meta:
        table_name = "roster_edit"


class NationalAssignment(Model):
    id = CharField(max_length=36, primary_key=True)
    grade = IntegerField()
    data = TextField()
    withdrawn_at = DateTimeField(null=True)
    received_at = DateTimeField(default=_utcnow)

    class Meta:
        table_name = "national_assignment"


class RosterState(Model):
    id = IntegerField(primary_key=True)
    cursor = BigIntegerField(default=0)
    last_pull_at = DateTimeField(null=True)
    last_report_at = DateTimeField(null=True)
    changes_applied = BigIntegerField(default=0)
    last_error = TextField(null=True)
    report_sha256 = CharField(max_length=64, null=True)

    class Meta:
        table_name = "roster_state"


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("user", "national_id", CharField(max_length=64, null=True)),
            migrator.add_index("user", ("national_id",), True),
            migrator.add_column("assignment", "national_id", CharField(max_length=36, null=True)),
            migrator.add_index("assignment", ("national_id",), False))
    models = [RosterEdit, NationalAssignment, RosterState]
    with db.bind_ctx(models + [User]):
        db.create_tables(models)
