"""Learning analytics kept as aggregates: pack items' subjects and skills, a per-school cursor, per-learner
cells (for counting students), and per-area sums by month (docs/hub.md#learning-analytics)."""
from __future__ import annotations

from peewee import BigIntegerField, CharField, CompositeKey, DateField, DateTimeField, Field, IntegerField, Model


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


class ContentItem(Model):
    """An exercise item of a published pack: its subject, grade and skills (filled at publish)."""
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    item_id = CharField(max_length=128)
    subject = CharField(max_length=100)
    grade = IntegerField()  # -1: the pack is for several grades
    skills = JSONField(default=list)

    class Meta:
        table_name = "content_item"
        primary_key = CompositeKey("pack_id", "node_id", "item_id")


class AnalyticsCursor(Model):
    """Per school, the highest seq the aggregates include (always <= the school's ack)."""
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    seq = BigIntegerField(default=0)

    class Meta:
        table_name = "analytics_cursor"


class LearnerCell(Model):
    """One pseudonymous learner's answers in one cell of one month: what counts each cell's students."""
    school = CharField(max_length=32, column_name="school_id")
    month = DateField()
    learner = CharField(max_length=64)
    dim = CharField(max_length=1)
    key = CharField(max_length=300)
    answers = IntegerField(default=0)
    correct = IntegerField(default=0)

    class Meta:
        table_name = "learner_cell"
        primary_key = CompositeKey("school", "month", "learner", "dim", "key")


class AreaCell(Model):
    """Sums for one area (country `c`, region `r:R`, district `d:R/D`, school `s:ID`), one kind of cell
    (`dim`: s skill, u subject and grade, p pack, a any activity, g assignment work), one key, one month."""
    area = CharField(max_length=260)
    dim = CharField(max_length=1)
    key = CharField(max_length=300)
    month = DateField()
    answers = BigIntegerField(default=0)
    correct = BigIntegerField(default=0)
    learners = BigIntegerField(default=0)
    completions = BigIntegerField(default=0)
    time_ms = BigIntegerField(default=0)

    class Meta:
        table_name = "area_cell"
        primary_key = CompositeKey("area", "dim", "key", "month")


class AlertSnapshot(Model):
    id = IntegerField(primary_key=True)
    computed_at = DateTimeField()
    alerts = JSONField(default=list)

    class Meta:
        table_name = "alert_snapshot"


def up(db) -> None:
    models = [ContentItem, AnalyticsCursor, LearnerCell, AreaCell, AlertSnapshot]
    with db.bind_ctx(models):
        db.create_tables(models)
