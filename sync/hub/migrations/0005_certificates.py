"""HTTPS certificates for schools (docs/https.md): one row per school with its CSR and newest certificate."""
from __future__ import annotations

from peewee import CharField, DateTimeField, Field, IntegerField, Model, TextField


class JSONField(Field):
    field_type = "JSON"  # json on PostgreSQL, text on SQLite (the database's field_types map it)


class SchoolCertificate(Model):
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    names = JSONField()
    csr = TextField()
    key_sha256 = CharField(max_length=64)
    csr_at = DateTimeField()
    certificate = TextField(null=True)
    cert_key_sha256 = CharField(max_length=64, null=True)
    not_before = DateTimeField(null=True)
    not_after = DateTimeField(null=True)
    issued_at = DateTimeField(null=True)
    attempt_at = DateTimeField(null=True)
    failures = IntegerField(default=0)
    error = TextField(null=True)
    next_try_at = DateTimeField(null=True)

    class Meta:
        table_name = "school_certificate"


def up(db) -> None:
    with db.bind_ctx([SchoolCertificate]):
        db.create_tables([SchoolCertificate])
