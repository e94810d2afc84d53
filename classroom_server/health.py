"""What `/healthz` reports: version and a real database check."""
from __future__ import annotations

from peewee import PeeweeException

from . import __version__, migrations
from .db import database


def health_report() -> dict:
    check: dict = {"ok": False}
    try:
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1").fetchone()
        done = migrations.applied(database.obj)
        check["schema"] = max(done, default=0)
        waiting = migrations.pending(database.obj, done)
        if waiting:
            check["error"] = "schema out of date: run `classroom-server migrate`"
        else:
            check["ok"] = True
    except (PeeweeException, migrations.MigrationError, OSError) as exc:
        check["error"] = str(exc)
    return {"status": "ok" if check["ok"] else "error", "version": __version__, "database": check}
