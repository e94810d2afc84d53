"""A pack's texts by language besides its title and description (pack.json `review.body` and
`review.note`, `license_note`), kept per installed pack as JSON: {"review_body": {"kk": ...}, ...}.
Packs installed before keep "{}" and their single `review_body` until their next version."""
from __future__ import annotations

from peewee import PostgresqlDatabase, TextField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("content_pack", "texts", TextField(default="{}")))
