"""`/healthz`: a real database check; 503 when the database is unusable."""
from __future__ import annotations

import datetime

from classroom_server import migrations
from classroom_server.db import database


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"]["ok"] is True


def test_corrupt_database_is_503(client, settings):
    database.close()
    path = settings.data_dir / "classroom.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        target = path.with_name(path.name + suffix)
        if target.exists():
            target.unlink()
    path.write_bytes(b"this is not a database" * 100)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and "not a database" in body["database"]["error"]


def test_database_from_a_newer_version_is_503(client):
    with migrations.MigrationHistory.bind_ctx(database.obj):
        migrations.MigrationHistory.create(number=9999, name="9999_future",
                                           applied_at=datetime.datetime.now())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "newer classroom-server" in response.get_json()["database"]["error"]
