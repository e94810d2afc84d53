"""Content downloads from the national platform: one row per pack version the sync agent fetches."""
from __future__ import annotations

import datetime

from peewee import AutoField, BigIntegerField, CharField, DateTimeField, FloatField, IntegerField, Model, TextField


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class ContentDownload(Model):
    id = AutoField()
    pack_id = CharField(max_length=128)
    version = CharField(max_length=32)
    title = TextField(default="{}")
    manifest_sha256 = CharField(max_length=64)
    previous_version = CharField(max_length=32, null=True)
    state = CharField(max_length=16, default="waiting_window")
    bytes_total = BigIntegerField(default=0)
    bytes_received = BigIntegerField(default=0)
    bytes_downloaded = BigIntegerField(default=0)
    speed = FloatField(default=0.0)
    failures = IntegerField(default=0)
    error = TextField(null=True)
    started_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=_utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "content_download"
        indexes = ((("pack_id", "version"), True),)


def up(db):
    with db.bind_ctx([ContentDownload]):
        db.create_tables([ContentDownload])
