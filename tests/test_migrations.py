"""Numbered migrations: from empty to the models, recorded, idempotent, newer databases refused."""
from __future__ import annotations

import datetime

import pytest
from peewee import SqliteDatabase

from classroom_server import migrations
from classroom_server.models import MODELS
from tests.helpers import schema_of


def test_migrating_an_empty_database_gives_the_models(tmp_path):
    migrated = SqliteDatabase(str(tmp_path / "migrated.db"))
    applied = migrations.migrate(migrated)
    assert applied == [m.name for m in migrations.available()]
    direct = SqliteDatabase(str(tmp_path / "direct.db"))
    with direct.bind_ctx(MODELS):
        direct.create_tables(MODELS)
    tables = [m._meta.table_name for m in MODELS]
    # content_search is SQLite's FTS5 index (a virtual table and its shadow tables), made only by SQL
    plain = {t for t in migrated.get_tables() if not t.startswith("content_search")}
    assert plain == set(tables) | {"migration_history"}
    assert "content_search" in migrated.get_tables()
    assert schema_of(migrated, tables) == schema_of(direct, tables)


def test_migrate_twice_changes_nothing(tmp_path):
    db = SqliteDatabase(str(tmp_path / "x.db"))
    migrations.migrate(db)
    assert migrations.migrate(db) == []
    assert migrations.applied(db) == [m.number for m in migrations.available()]


def test_database_from_a_newer_version_is_refused_untouched(tmp_path):
    db = SqliteDatabase(str(tmp_path / "x.db"))
    migrations.migrate(db)
    with migrations.MigrationHistory.bind_ctx(db):
        migrations.MigrationHistory.create(number=9999, name="9999_future", applied_at=datetime.datetime.now())
    before = db.get_tables()
    with pytest.raises(migrations.MigrationError, match="newer classroom-server"):
        migrations.migrate(db)
    assert db.get_tables() == before


def test_upgrading_gives_every_existing_user_a_distinct_pseudonym(tmp_path):
    db = SqliteDatabase(str(tmp_path / "x.db"))
    migrations.migrate(db, upto=2)
    for name in ("Әлия", "Иван", "Dana"):
        db.execute_sql('INSERT INTO "user" (display_name, role, is_active, session_version, created_at) '
                       "VALUES (?, 'student', 1, 1, '2026-01-01')", (name,))
    assert migrations.migrate(db, upto=3) == ["0003_learning_records"]
    pseudonyms = [row[0] for row in db.execute_sql('SELECT pseudonym FROM "user"')]
    assert len(set(pseudonyms)) == 3 and all(p and len(p) == 32 for p in pseudonyms)


def test_upgrading_drops_the_lone_device_index_and_device_queries_keep_an_index(tmp_path):
    db = SqliteDatabase(str(tmp_path / "x.db"))
    migrations.migrate(db, upto=22)
    indexes = {index.name for index in db.get_indexes("learning_record")}
    assert "learningrecord_device_id" in indexes
    assert migrations.migrate(db, upto=23) == ["0023_record_device_index"]
    left = {index.name: index.columns for index in db.get_indexes("learning_record")}
    assert "learningrecord_device_id" not in left
    assert left["learningrecord_device_id_device_sequence"] == ["device_id", "device_sequence"]
    plan = " ".join(str(row) for row in db.execute_sql(
        "EXPLAIN QUERY PLAN SELECT seq FROM learning_record WHERE device_id = ?", ("d",)))
    assert "learningrecord_device_id_device_sequence" in plan
