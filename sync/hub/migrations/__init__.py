"""The hub's numbered schema migrations, applied in order and recorded in `hub_migration_history`.

Each script `NNNN_name.py` defines `up(db)` using frozen inline models (never the hub's models),
so an old script keeps meaning what it meant when it was written.
"""
from __future__ import annotations

import datetime
import functools
import importlib
import logging
import pkgutil
import re
from dataclasses import dataclass

from peewee import CharField, Database, DateTimeField, IntegerField, Model

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_\w+$")
HISTORY_TABLE = "hub_migration_history"


class MigrationError(Exception):
    """The database schema cannot be brought up to date; the message says what to do."""


class MigrationHistory(Model):
    number = IntegerField(primary_key=True)
    name = CharField(max_length=128)
    applied_at = DateTimeField()

    class Meta:
        table_name = HISTORY_TABLE


@dataclass(frozen=True)
class Migration:
    number: int
    name: str


@functools.lru_cache(maxsize=1)
def available() -> tuple[Migration, ...]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if match:
            found.append(Migration(int(match.group(1)), info.name))
    return tuple(sorted(found, key=lambda m: m.number))


def applied(db: Database) -> list[int]:
    if not db.table_exists(HISTORY_TABLE):
        return []
    return [row[0] for row in db.execute_sql(f"SELECT number FROM {HISTORY_TABLE} ORDER BY number")]


def pending(db: Database, done: list[int] | None = None) -> list[Migration]:
    done = applied(db) if done is None else done
    known = {m.number for m in available()}
    unknown = [n for n in done if n not in known]
    if unknown:
        raise MigrationError(f"this database was set up by a newer classroom-hub (schema {max(unknown):04d}; "
                             f"this version knows up to {max(known):04d}): install that version; nothing "
                             f"was changed.")
    return [m for m in available() if m.number not in set(done)]


def migrate(db: Database) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied."""
    with MigrationHistory.bind_ctx(db):
        db.create_tables([MigrationHistory], safe=True)
    done = []
    for migration in pending(db):
        module = importlib.import_module(f"{__name__}.{migration.name}")
        log.info("applying migration %s", migration.name)
        with db.atomic():
            module.up(db)
            with MigrationHistory.bind_ctx(db):
                MigrationHistory.create(number=migration.number, name=migration.name,
                                        applied_at=datetime.datetime.utcnow())
        done.append(migration.name)
    return done
