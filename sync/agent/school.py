"""The school's side of the agent's work: its data folder and database, one process at a time per
task (file locks), and the school's wall clock against the `[sync] hours` windows."""
from __future__ import annotations

import datetime
import fcntl
import logging
import os
import time
from contextlib import contextmanager
from typing import Iterator
from zoneinfo import ZoneInfo

import click
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server import migrations
from classroom_server.db import DatabaseError, database, open_database
from classroom_server.settings import Settings, SettingsError, hour_windows, load_settings

log = logging.getLogger(__name__)

LOCK_FILE = "classroom-sync.lock"
CONTENT_LOCK_FILE = "classroom-sync-content.lock"  # content downloads run beside record syncs


def open_school(data_dir: str | os.PathLike | None, wait_for_schema: bool = False) -> Settings:
    """Load the school's settings and open its database the way classroom-server does.

    The agent never migrates (the web server does, at start): with `wait_for_schema` it waits until
    the schema is current, else it stops with the fix.
    """
    try:
        settings = load_settings(data_dir)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        open_database(settings.effective_database_url)
        database.connect(reuse_if_open=True)
        while True:
            pending = migrations.pending(database.obj)
            if not pending:
                break
            if not wait_for_schema:
                raise click.ClickException(
                    f"the school database in {settings.data_dir} is not up to date (needs "
                    f"{', '.join(m.name for m in pending)}): run `classroom-server migrate`, or start the web "
                    f"server, which migrates")
            log.warning("waiting for the web server to bring the database schema up to date (%s)",
                        ", ".join(m.name for m in pending))
            time.sleep(10)
    except (DatabaseError, migrations.MigrationError, PeeweeDatabaseError) as exc:
        raise click.ClickException(f"cannot use the school database: {exc}") from None
    return settings


@contextmanager
def exclusive(settings: Settings, name: str = LOCK_FILE) -> Iterator[bool]:
    """One sync at a time per data folder (the daemon and `once` may both be asked): yields False
    when another process is syncing."""
    path = settings.data_dir / name
    handle = open(path, "a+b")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def within_hours(spec: str, moment: datetime.datetime) -> bool:
    """Whether `moment` (aware or naive wall time) falls in one of the `[sync] hours` windows."""
    minute = moment.hour * 60 + moment.minute
    for start, end in hour_windows(spec):
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return True
    return False


def school_now(settings: Settings) -> datetime.datetime:
    """The wall time at the school, in its `[i18n] timezone` when that setting exists."""
    zone = getattr(settings, "i18n_timezone", None)
    if zone:
        try:
            return datetime.datetime.now(ZoneInfo(zone))
        except (KeyError, ValueError):
            pass
    return datetime.datetime.now()
