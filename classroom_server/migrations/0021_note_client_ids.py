"""A note kept on a student's device while the school server could not be reached carries an id the
device made (reader_note.client_id): sent again after a lost reply, it is recognised, not stored twice."""
from __future__ import annotations

from peewee import CharField, PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    # NULL for notes sent by the page's form without JavaScript; unique per student where given.
    migrate(migrator.add_column("reader_note", "client_id", CharField(max_length=36, null=True)),
            migrator.add_index("reader_note", ("user_id", "client_id"), True))
