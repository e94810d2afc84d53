"""National rosters and assignments: people and work sent centrally, each school's change feed, and
the roster each school reports (docs/rosters.md)."""
from __future__ import annotations

from peewee import (BigIntegerField, BooleanField, CharField, CompositeKey, DateTimeField, Field, IntegerField,
                    Model)


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


class NationalPerson(Model):
    national_id = CharField(max_length=64, primary_key=True)
    school = CharField(max_length=32, column_name="school_id", index=True)
    display_name = CharField(max_length=120)
    role = CharField(max_length=16)
    class_name = CharField(max_length=64, null=True)
    grade = IntegerField(null=True)
    active = BooleanField(default=True)
    version = IntegerField(default=1)
    updated_at = DateTimeField()
    class_changed_at = DateTimeField()

    class Meta:
        table_name = "national_person"


class NationalAssignment(Model):
    id = CharField(max_length=36, primary_key=True)
    title = CharField(max_length=200)
    kind = CharField(max_length=8, default="work")
    grade = IntegerField()
    region = CharField(max_length=100, null=True)
    schools = JSONField()
    parts = JSONField()
    starts_at = DateTimeField(null=True)
    due_at = DateTimeField(null=True)
    settings = JSONField()
    created_at = DateTimeField()
    withdrawn_at = DateTimeField(null=True)

    class Meta:
        table_name = "national_assignment"


class RosterChange(Model):
    school = CharField(max_length=32, column_name="school_id")
    seq = BigIntegerField()
    kind = CharField(max_length=16)
    key = CharField(max_length=64)
    data = JSONField()
    created_at = DateTimeField()

    class Meta:
        table_name = "roster_change"
        primary_key = CompositeKey("school", "seq")


class RosterFeed(Model):
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    last_seq = BigIntegerField(default=0)
    pulled_after = BigIntegerField(default=0)
    reported_at = DateTimeField(null=True)

    class Meta:
        table_name = "roster_feed"


class SchoolRoster(Model):
    school = CharField(max_length=32, column_name="school_id")
    person = CharField(max_length=80)
    national_id = CharField(max_length=64, null=True)
    pseudonym = CharField(max_length=32, null=True)
    role = CharField(max_length=16)
    active = BooleanField(default=True)
    classes = JSONField()
    class_edited_at = DateTimeField(null=True)

    class Meta:
        table_name = "school_roster"
        primary_key = CompositeKey("school", "person")


def up(db):
    models = [NationalPerson, NationalAssignment, RosterChange, RosterFeed, SchoolRoster]
    with db.bind_ctx(models):
        db.create_tables(models)
