"""Records partitioned by month of receipt (PostgreSQL), each school's highest held seq, and the
list of months archived to files.

On PostgreSQL the old table is renamed `record_unpartitioned` and an empty partitioned `record`
takes its name; `classroom-hub init` then moves the rows over in chunks (sync/hub/partitions.py),
resumably, and drops the old table once every row is in the new one. On SQLite nothing moves.
"""
from __future__ import annotations

import datetime

from peewee import BigIntegerField, CharField, DateTimeField, Model, PostgresqlDatabase, TextField
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate


class RecordArchive(Model):
    partition = CharField(max_length=64, primary_key=True)
    starts = DateTimeField()
    ends = DateTimeField()
    rows = BigIntegerField()
    path = TextField()
    sha256 = CharField(max_length=64)
    archived_at = DateTimeField(default=datetime.datetime.utcnow)

    class Meta:
        table_name = "record_archive"


def up(db):
    postgres = isinstance(db, PostgresqlDatabase)
    migrator = PostgresqlMigrator(db) if postgres else SqliteMigrator(db)
    migrate(migrator.add_column("school", "seq_high", BigIntegerField(default=0)))
    db.execute_sql("UPDATE school SET seq_high = COALESCE((SELECT MAX(seq) FROM record "
                   "WHERE record.school_id = school.id), 0)")
    with db.bind_ctx([RecordArchive]):
        db.create_tables([RecordArchive])
    if postgres:
        db.execute_sql("ALTER TABLE record RENAME TO record_unpartitioned")
        # The same columns; no key of its own: each monthly partition gets its unique indexes.
        db.execute_sql("CREATE TABLE record (LIKE record_unpartitioned INCLUDING DEFAULTS) "
                       "PARTITION BY RANGE (received_at)")
        if db.execute_sql("SELECT 1 FROM record_unpartitioned LIMIT 1").fetchone() is None:
            db.execute_sql("DROP TABLE record_unpartitioned")  # a new hub: nothing to move
