"""Opening the database by its URL."""
from __future__ import annotations

from classroom_server.db import database, open_database


def test_a_database_in_memory_leaves_no_file_behind(tmp_path, monkeypatch):
    # sqlite:///:memory: is SQLite's database in memory: no file named ":memory:" may be made for it.
    monkeypatch.chdir(tmp_path)
    bound = database.obj
    try:
        db = open_database("sqlite:///:memory:")
        assert db.execute_sql("SELECT 1").fetchone() == (1,)
        db.close()
    finally:
        database.initialize(bound)
    assert list(tmp_path.iterdir()) == []
