"""Adaptive practice: the nightly fits of the model and every item the tutor chose, with why."""
from __future__ import annotations

import datetime

from peewee import AutoField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, Model, TextField


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class User(Model):
    class Meta:
        table_name = "user"


class AdaptiveParams(Model):
    id = AutoField()
    fitted_at = DateTimeField(default=_utcnow)
    records = IntegerField(default=0)
    params = TextField()
    fit_seconds = FloatField(default=0.0)

    class Meta:
        table_name = "adaptive_params"


class PracticeDecision(Model):
    id = AutoField()
    user = ForeignKeyField(User)
    scope = CharField(max_length=300)
    skill = CharField(max_length=128, null=True)
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    item_id = CharField(max_length=128)
    p = FloatField()
    mastery = FloatField(null=True)
    kind = CharField(max_length=16)
    reason = CharField(max_length=255)
    reason_params = TextField(default="{}")
    params_version = IntegerField(null=True)
    created_at = DateTimeField(default=_utcnow)

    class Meta:
        table_name = "practice_decision"
        indexes = ((("user", "created_at"), False),)


def up(db):
    with db.bind_ctx([User, AdaptiveParams, PracticeDecision]):
        db.create_tables([AdaptiveParams, PracticeDecision])
