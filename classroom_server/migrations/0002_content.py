"""The content catalog: packs, their nodes and files, and the full-text search index."""
from __future__ import annotations

import datetime

from peewee import (BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model,
                    SqliteDatabase, TextField)


class ContentPack(Model):
    pack_id = CharField(max_length=128, unique=True)
    version = CharField(max_length=32)
    title = TextField()
    description = TextField(default="{}")
    subject = CharField(max_length=64, index=True)
    grades = TextField()
    languages = TextField()
    license = CharField(max_length=128)
    authors = TextField()
    review_status = CharField(max_length=16)
    review_body = CharField(max_length=255, null=True)
    review_date = CharField(max_length=10, null=True)
    reviewed = BooleanField()
    signer_key = CharField(max_length=64, null=True)
    manifest_sha256 = CharField(max_length=64)
    total_size = IntegerField()
    installed_at = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "content_pack"


class ContentNode(Model):
    pack = ForeignKeyField(ContentPack, on_delete="CASCADE")
    node_id = CharField(max_length=128)
    parent_id = CharField(max_length=128, null=True)
    position = IntegerField()
    kind = CharField(max_length=16)
    title = TextField()
    data = TextField()

    class Meta:
        table_name = "content_node"
        indexes = ((("pack", "node_id"), True),)


class ContentFile(Model):
    pack = ForeignKeyField(ContentPack, on_delete="CASCADE")
    path = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    size = IntegerField()

    class Meta:
        table_name = "content_file"
        indexes = ((("pack", "path"), True),)


def up(db):
    models = [ContentPack, ContentNode, ContentFile]
    with db.bind_ctx(models):
        db.create_tables(models)
    if isinstance(db, SqliteDatabase):
        # unicode61 folds case for Cyrillic too (Қ/қ, Ә/ә, Ұ/ұ, І/і); diacritics stay: ә is not а.
        # The short columns come first, so filtering by pack reads them without the long body.
        db.execute_sql("CREATE VIRTUAL TABLE content_search USING fts5("
                       "pack_id UNINDEXED, node_id UNINDEXED, language UNINDEXED, title, body, "
                       "tokenize = 'unicode61 remove_diacritics 0')")
    else:
        db.execute_sql("CREATE TABLE content_search (title TEXT, body TEXT, pack_id VARCHAR(128), "
                       "node_id VARCHAR(128), language VARCHAR(8))")
        db.execute_sql("CREATE INDEX content_search_pack ON content_search (pack_id)")
