"""Numbered schema migrations, applied in order and recorded in `migration_history`.

Each script `NNNN_name.py` defines `up(db)` using frozen inline models (never the app's models),
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


class MigrationError(Exception):
    """The database schema cannot be brought up to date; the message says what to do."""


class MigrationHistory(Model):
    number = IntegerField(primary_key=True)
    name = CharField(max_length=128)
    applied_at = DateTimeField()

    class Meta:
        table_name = "migration_history"


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
    # Plain SQL, no model binding: /healthz runs this from many threads at once.
    if not db.table_exists(MigrationHistory._meta.table_name):
        return []
    return [row[0] for row in db.execute_sql("SELECT number FROM migration_history ORDER BY number")]


def created_at(db: Database) -> datetime.datetime | None:
    """When this school's database was made (its first migration, UTC): nothing happened before."""
    # Plain SQL, no model binding (as `applied`): answers come in from many threads at once.
    if not db.table_exists(MigrationHistory._meta.table_name):
        return None
    value = db.execute_sql("SELECT MIN(applied_at) FROM migration_history").fetchone()[0]
    return MigrationHistory.applied_at.python_value(value)


def pending(db: Database, done: list[int] | None = None) -> list[Migration]:
    done = applied(db) if done is None else done
    check_not_newer(db, done)
    applied_numbers = set(done)
    return [m for m in available() if m.number not in applied_numbers]


def check_not_newer(db: Database, done: list[int] | None = None) -> None:
    known = {m.number for m in available()}
    unknown = [n for n in (applied(db) if done is None else done) if n not in known]
    if unknown:
        raise MigrationError(
            f"this database was upgraded by a newer classroom-server (schema {max(unknown):04d}; this "
            f"version knows up to {max(known):04d}). Install the newer version again, or restore a "
            f"backup made with this version; nothing was changed.")


def migrate(db: Database, upto: int | None = None) -> list[str]:
    """Apply pending migrations (all, or those numbered up to `upto`), each in its own transaction.
    Returns the names applied."""
    with MigrationHistory.bind_ctx(db):
        db.create_tables([MigrationHistory], safe=True)
    done = []
    for migration in pending(db):
        if upto is not None and migration.number > upto:
            break
        module = importlib.import_module(f"{__name__}.{migration.name}")
        log.info("applying migration %s", migration.name)
        with db.atomic():
            module.up(db)
            with MigrationHistory.bind_ctx(db):
                MigrationHistory.create(number=migration.number, name=migration.name,
                                        applied_at=datetime.datetime.utcnow())
        done.append(migration.name)
    return done
