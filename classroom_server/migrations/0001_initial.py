"""Accounts, classes, memberships, sign-in failures and school facts."""
from __future__ import annotations

import datetime

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model,
                    TextField)


class User(Model):
    username = CharField(max_length=64, unique=True, null=True)
    display_name = CharField(max_length=120)
    role = CharField(max_length=16, index=True)
    password_hash = CharField(max_length=255, null=True)
    secret_hash = CharField(max_length=255, null=True)
    language = CharField(max_length=8, null=True)
    is_active = BooleanField(default=True)
    session_version = IntegerField(default=1)
    created_at = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "user"


class Classroom(Model):
    name = CharField(max_length=64, unique=True)
    grade = IntegerField(null=True)
    signin_mode = CharField(max_length=16, default="name")
    created_at = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "classroom"


class Membership(Model):
    classroom = ForeignKeyField(Classroom, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    role = CharField(max_length=16)

    class Meta:
        table_name = "membership"
        indexes = ((("classroom", "user"), True),)


class LoginFailure(Model):
    key = CharField(max_length=128, index=True)
    created_at = DateTimeField(default=datetime.datetime.utcnow, index=True)

    class Meta:
        table_name = "login_failure"


class SchoolSetting(Model):
    key = CharField(max_length=64, primary_key=True)
    value = TextField()

    class Meta:
        table_name = "school_setting"


def up(db):
    models = [User, Classroom, Membership, LoginFailure, SchoolSetting]
    with db.bind_ctx(models):
        db.create_tables(models)
