"""Skill titles: the titles by language a pack gives its skill tags (pack.json `skills`), kept per
installed pack. Packs installed before keep "{}" (their tags are shown) until their next version."""
from __future__ import annotations

from peewee import PostgresqlDatabase, TextField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("content_pack", "skill_titles", TextField(default="{}")))
