"""An answer typed by the student (a number or a short text) kept as she typed it: "1/2" stays
"1/2" in her results and the teacher's reports, while `response` keeps the normalised value that
scoring and the national platform use ("0.5"). Records stored before have none (null)."""
from __future__ import annotations

from peewee import PostgresqlDatabase, TextField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(migrator.add_column("learning_record", "typed", TextField(null=True)))
