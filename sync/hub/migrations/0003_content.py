"""Content downstream: the published packs (catalog) and each school's latest reported state."""
from __future__ import annotations

from peewee import BigIntegerField, BooleanField, CharField, CompositeKey, DateTimeField, Field, Model


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


class PackRelease(Model):
    pack_id = CharField(max_length=128)
    version = CharField(max_length=64)
    title = JSONField()
    manifest_sha256 = CharField(max_length=64)
    manifest_size = BigIntegerField()
    signature_sha256 = CharField(max_length=64)
    signature_size = BigIntegerField()
    size = BigIntegerField()
    target_all = BooleanField(default=False)
    target_regions = JSONField()
    target_schools = JSONField()
    published_at = DateTimeField()
    withdrawn_at = DateTimeField(null=True)

    class Meta:
        table_name = "pack_release"
        primary_key = CompositeKey("pack_id", "version")


class SchoolState(Model):
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    agent_version = CharField(max_length=200, null=True)
    packs = JSONField()
    disk_free_bytes = BigIntegerField(null=True)
    disk_total_bytes = BigIntegerField(null=True)
    downloads_waiting = BigIntegerField(default=0)
    downloads_bytes_left = BigIntegerField(default=0)
    state_at = DateTimeField()

    class Meta:
        table_name = "school_state"


def up(db):
    with db.bind_ctx([PackRelease, SchoolState]):
        db.create_tables([PackRelease, SchoolState])
