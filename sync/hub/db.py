"""The hub's database proxy: PostgreSQL by URL (pooled), or a SQLite file for a quick local try."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlparse

from peewee import Database, DatabaseProxy, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": "full", "busy_timeout": 10000}
# Statements are JSON documents: json on PostgreSQL (checked on input, kept as sent; peewee would
# make it jsonb), text on SQLite.
FIELD_TYPES = {"JSON": "TEXT"}
POSTGRES_FIELD_TYPES = {"JSON": "JSON"}


class DatabaseError(Exception):
    """The database cannot be opened or used; the message says what to do."""


def open_database(url: str, max_connections: int = 16) -> Database:
    """Open the database named by `url` and bind it to the proxy."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder {path.parent} for the database: {exc.strerror}. "
                                f"Choose a writable --data-dir or fix its permissions.") from None
        db: Database = SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=10,
                                      field_types=FIELD_TYPES)
    elif url.startswith(("postgres://", "postgresql://")):
        db = PooledPostgresqlDatabase(max_connections=max_connections, stale_timeout=300,
                                      field_types=POSTGRES_FIELD_TYPES, **_postgres_params(url))
    else:
        raise DatabaseError(f"unsupported database URL {url!r}: use postgresql://USER@HOST:PORT/NAME "
                            f"(or sqlite:///PATH for a quick local try)")
    database.initialize(db)
    return db


def _postgres_params(url: str) -> dict:
    parsed = urlparse(url)
    params: dict = {"database": unquote(parsed.path.lstrip("/")) or None}
    if parsed.hostname:
        params["host"] = parsed.hostname
    if parsed.port:
        params["port"] = parsed.port
    if parsed.username:
        params["user"] = unquote(parsed.username)
    if parsed.password:
        params["password"] = unquote(parsed.password)
    params.update(parse_qsl(parsed.query))  # e.g. sslmode=require, options=-csearch_path=...
    return params


def is_postgres() -> bool:
    return isinstance(database.obj, PooledPostgresqlDatabase)
