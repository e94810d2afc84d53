"""The school's tables. Shared by every feature: coach reads what learn writes.

Change the schema only together with a numbered script in `migrations/`.
"""
from __future__ import annotations

import datetime
import uuid

from peewee import (AutoField, BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField,
                    IntegerField, Model, TextField)

from .db import database

ROLES = ("admin", "teacher", "student")
SIGNIN_MODES = ("name", "pin", "picture")


def new_pseudonym() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class User(BaseModel):
    # Students may have no username: they sign in by class and name.
    username = CharField(max_length=64, unique=True, null=True)
    display_name = CharField(max_length=120)
    role = CharField(max_length=16, index=True)
    password_hash = CharField(max_length=255, null=True)
    # A student's secret: a PIN or a picture code, hashed like a password.
    secret_hash = CharField(max_length=255, null=True)
    language = CharField(max_length=8, null=True)
    is_active = BooleanField(default=True)
    # Bumped on password change or sign-out everywhere; old session cookies stop working.
    session_version = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    # Random and school-scoped: learning records and the national platform know only this.
    pseudonym = CharField(max_length=32, unique=True, null=True, default=new_pseudonym)

    class Meta:
        table_name = "user"


class Classroom(BaseModel):
    name = CharField(max_length=64, unique=True)
    grade = IntegerField(null=True)
    signin_mode = CharField(max_length=16, default="name")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "classroom"


class Membership(BaseModel):
    classroom = ForeignKeyField(Classroom, backref="memberships", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=16)  # teacher or student, within this class

    class Meta:
        table_name = "membership"
        indexes = ((("classroom", "user"), True),)


class LoginFailure(BaseModel):
    """One wrong sign-in; counted per account and per address for rate limiting."""
    key = CharField(max_length=128, index=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "login_failure"


class SchoolSetting(BaseModel):
    """Small key/value facts about this school (its name, whether the demo was made)."""
    key = CharField(max_length=64, primary_key=True)
    value = TextField()

    class Meta:
        table_name = "school_setting"


MODELS = (User, Classroom, Membership, LoginFailure, SchoolSetting)


class ContentPack(BaseModel):
    """One installed pack: its current version. Switching versions rewrites its rows in one transaction."""
    pack_id = CharField(max_length=128, unique=True)
    version = CharField(max_length=32)
    title = TextField()  # JSON: texts by language
    description = TextField(default="{}")
    subject = CharField(max_length=64, index=True)
    grades = TextField()  # JSON list
    languages = TextField()  # JSON list
    license = CharField(max_length=128)
    authors = TextField()  # JSON list
    review_status = CharField(max_length=16)
    review_body = CharField(max_length=255, null=True)
    review_date = CharField(max_length=10, null=True)
    # Signed by a key the school trusts and approved by the reviewing body.
    reviewed = BooleanField()
    signer_key = CharField(max_length=64, null=True)
    manifest_sha256 = CharField(max_length=64)
    total_size = IntegerField()
    installed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "content_pack"


class ContentNode(BaseModel):
    pack = ForeignKeyField(ContentPack, backref="nodes", on_delete="CASCADE")
    node_id = CharField(max_length=128)  # stable across versions: progress refers to it
    parent_id = CharField(max_length=128, null=True)
    position = IntegerField()
    kind = CharField(max_length=16)
    title = TextField()  # JSON: texts by language
    data = TextField()  # JSON: the node's other fields (content files, items, media, ...)

    class Meta:
        table_name = "content_node"
        indexes = ((("pack", "node_id"), True),)


class ContentFile(BaseModel):
    pack = ForeignKeyField(ContentPack, backref="files", on_delete="CASCADE")
    path = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    size = IntegerField()

    class Meta:
        table_name = "content_file"
        indexes = ((("pack", "path"), True),)


MODELS = MODELS + (ContentPack, ContentNode, ContentFile)


class Device(BaseModel):
    """A browser that signed in here (an id in a long-lived cookie); numbers its records in order."""
    id = CharField(max_length=36, primary_key=True)
    created_at = DateTimeField(default=utcnow)
    last_sequence = IntegerField(default=0)

    class Meta:
        table_name = "device"


class LearningRecord(BaseModel):
    """One interaction that matters, appended and never changed: maps one-to-one to an xAPI
    statement (domain.statements). `seq` is the school's own order: sync sends records by it."""
    seq = AutoField()
    uuid = CharField(max_length=36, unique=True)
    device = ForeignKeyField(Device)
    device_sequence = IntegerField()
    created_at = DateTimeField(default=utcnow)  # when this server stored it
    occurred_at = DateTimeField()  # when it happened (a device's clock for answers made offline)
    user = ForeignKeyField(User)  # no cascade: a learner with records can be disabled, not deleted
    learner = CharField(max_length=32)  # the user's pseudonym when it happened
    verb = CharField(max_length=16)
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    node_kind = CharField(max_length=16)
    item_id = CharField(max_length=128, null=True)
    language = CharField(max_length=8)
    classroom = IntegerField(null=True)  # a class id, kept as it was even if the class goes
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


MODELS = MODELS + (Device, LearningRecord)
