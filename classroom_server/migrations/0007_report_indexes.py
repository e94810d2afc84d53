"""Indexes for teachers' reports on a year of learning records (coach.reports).

- `report`: a class's records by student and verb, with what the class overview and item analysis
  read (item, right or wrong, quiz, score, times), so they are counted from the index alone. The
  free-text `response` is left out: PostgreSQL refuses index entries over about 2.7 kB.
- `activity`: a student's records in time order, with their durations: engagement per day, the
  student's timeline and when they were last active.
"""
from __future__ import annotations

from peewee import PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

TABLE = "learning_record"
# The names peewee gives these indexes in models.LearningRecord.Meta (made short with a hash).
REPORT = ("learningrecord_user_id_verb_pack_id_node_id_item_id_corr_a9f2a92",
          ("user_id", "verb", "pack_id", "node_id", "item_id", "correct", "assignment", "score", "created_at",
           "occurred_at"))
ACTIVITY = ("learningrecord_user_id_occurred_at_duration_ms", ("user_id", "occurred_at", "duration_ms"))


def up(db):
    migrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    migrate(*(migrator.add_index(TABLE, columns, False, name=name) for name, columns in (REPORT, ACTIVITY)))
