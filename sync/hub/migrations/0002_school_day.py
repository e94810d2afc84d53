"""Per-school, per-day record counts for the dashboard, filled from the records already held."""
from __future__ import annotations

from peewee import BigIntegerField, CharField, CompositeKey, DateField, DateTimeField, Model, fn


class Record(Model):
    school = CharField(max_length=32, column_name="school_id")
    received_at = DateTimeField()

    class Meta:
        table_name = "record"


class SchoolDay(Model):
    day = DateField()
    school = CharField(max_length=32, column_name="school_id")
    records = BigIntegerField(default=0)

    class Meta:
        table_name = "school_day"
        primary_key = CompositeKey("day", "school")


def up(db):
    with db.bind_ctx([Record, SchoolDay]):
        db.create_tables([SchoolDay])
        # date() is SQLite's function and PostgreSQL's cast to date: both give the UTC day.
        day = fn.date(Record.received_at)
        counts = Record.select(day, Record.school, fn.COUNT(Record.school)).group_by(day, Record.school)
        SchoolDay.insert_from(counts, [SchoolDay.day, SchoolDay.school, SchoolDay.records]).execute()
