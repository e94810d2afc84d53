"""Learning records (the digital footprint): devices, append-only records, learners' pseudonyms."""
from __future__ import annotations

import datetime
import uuid

from peewee import (AutoField, BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, Model,
                    PostgresqlDatabase, TextField)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


class User(Model):
    pseudonym = CharField(max_length=32, null=True)

    class Meta:
        table_name = "user"


class Device(Model):
    id = CharField(max_length=36, primary_key=True)
    created_at = DateTimeField(default=datetime.datetime.utcnow)
    last_sequence = IntegerField(default=0)

    class Meta:
        table_name = "device"


class LearningRecord(Model):
    seq = AutoField()
    uuid = CharField(max_length=36, unique=True)
    device = ForeignKeyField(Device)
    device_sequence = IntegerField()
    created_at = DateTimeField()
    occurred_at = DateTimeField()
    user = ForeignKeyField(User)
    learner = CharField(max_length=32)
    verb = CharField(max_length=16)
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    node_kind = CharField(max_length=16)
    item_id = CharField(max_length=128, null=True)
    language = CharField(max_length=8)
    classroom = IntegerField(null=True)
    assignment = CharField(max_length=36, null=True)
    response = TextField(null=True)
    correct = BooleanField(null=True)
    score = FloatField(null=True)
    duration_ms = IntegerField(null=True)
    progress = FloatField(null=True)
    attempt = IntegerField(null=True)

    class Meta:
        table_name = "learning_record"
        indexes = ((("device", "device_sequence"), True), (("user", "pack_id", "node_id"), False),
                   (("pack_id", "node_id", "item_id"), False))


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("user", "pseudonym", CharField(max_length=32, null=True)),
            migrator.add_index("user", ("pseudonym",), True))
    models = [Device, LearningRecord]
    with db.bind_ctx(models + [User]):
        # Every user gets a random, school-scoped pseudonym: records name it, never the child.
        for user in User.select(User.id).where(User.pseudonym.is_null()):
            User.update(pseudonym=uuid.uuid4().hex).where(User.id == user.id).execute()
        db.create_tables(models)
