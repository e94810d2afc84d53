"""The hub's database proxy: PostgreSQL by URL (pooled), or a SQLite file for a quick local try."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, unquote, urlparse

from peewee import Database, DatabaseProxy, InterfaceError, OperationalError, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

log = logging.getLogger(__name__)

REPLICA_RETRY_SECONDS = 30.0  # after the replica failed, reads stay on the primary this long
REPLICA_CONNECT_TIMEOUT = "3"  # seconds; a replica that does not answer must not hold a page up


class RoutedProxy(DatabaseProxy):
    """The hub's database proxy: the primary, or, inside `reading()`, a streaming replica.

    Models use this proxy; within `with database.reading():` the current thread's queries go to the
    replica named by [database] read_url when it is up and not too far behind, else to the primary.
    Writes and reads that must see their own writes never enter `reading()`.
    """
    __slots__ = ("_primary", "_local", "replica", "max_lag", "_replica_down_until", "_replica_error")

    def __init__(self):
        self._local = threading.local()
        self.replica: Database | None = None
        self.max_lag = 300.0
        self._replica_down_until = 0.0
        self._replica_error = ""
        super().__init__()

    def __setattr__(self, attr, value):  # Proxy refuses names outside its own __slots__
        object.__setattr__(self, attr, value)

    @property
    def obj(self):
        return getattr(self._local, "db", None) or self._primary

    @obj.setter
    def obj(self, value):
        self._primary = value

    @contextlib.contextmanager
    def reading(self) -> Iterator[dict]:
        """Route this thread's queries to the replica if it can serve them; yield where they go:
        {"database": "replica" | "primary", "lag_seconds": float | None, "note": str | None}."""
        source, info = self._read_source()
        self._local.db = source if source is not self._primary else None
        try:
            yield info
        finally:
            self._local.db = None
            if source is not self._primary and not source.is_closed():
                source.close()  # back to the replica's pool

    def _read_source(self) -> tuple[Database, dict]:
        if self.replica is None:
            return self._primary, {"database": "primary", "lag_seconds": None, "note": None}
        if time.monotonic() < self._replica_down_until:
            return self._primary, {"database": "primary", "lag_seconds": None,
                                   "note": f"the replica is unavailable ({self._replica_error}): read from the primary"}
        try:
            self.replica.connect(reuse_if_open=True)
            lag = replica_lag(self.replica)
        except (OperationalError, InterfaceError) as exc:
            self._replica_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
            log.warning("the read replica is unavailable, reading from the primary: %s", self._replica_error)
            with contextlib.suppress(Exception):
                self.replica.manual_close()  # a broken connection must not go back to the pool
            return self._primary, {"database": "primary", "lag_seconds": None,
                                   "note": f"the replica is unavailable ({self._replica_error}): read from the primary"}
        if lag > self.max_lag:
            self.replica.close()
            return self._primary, {"database": "primary", "lag_seconds": lag,
                                   "note": f"the replica is {lag:.0f} s behind the primary (more than "
                                           f"[database] read_max_lag = {self.max_lag:g} s): read from the primary"}
        return self.replica, {"database": "replica", "lag_seconds": lag,
                              "note": f"read from the replica, {lag:.0f} s behind the primary" if lag >= 1 else None}


def replica_lag(db: Database) -> float:
    """Seconds of the primary's commits a standby has not replayed yet (0 when it has all it received)."""
    row = db.execute_sql(
        "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn() IS NOT NULL "
        "AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), "
        "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())").fetchone()
    in_recovery, caught_up, behind = row
    if not in_recovery or caught_up or behind is None:
        return 0.0
    return max(float(behind), 0.0)


database = RoutedProxy()

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
    database.replica = None
    return db


def open_read_database(url: str, max_connections: int = 16, max_lag: float = 300.0) -> Database:
    """Open the streaming replica named by [database] read_url for `database.reading()`."""
    if not url.startswith(("postgres://", "postgresql://")):
        raise DatabaseError(f"unsupported read_url {url!r}: use postgresql://USER@HOST:PORT/NAME of a streaming "
                            f"standby of the hub's database")
    params = _postgres_params(url)
    params.setdefault("connect_timeout", REPLICA_CONNECT_TIMEOUT)
    replica = PooledPostgresqlDatabase(max_connections=max_connections, stale_timeout=300,
                                       field_types=POSTGRES_FIELD_TYPES, **params)
    database.replica, database.max_lag = replica, max_lag
    database._replica_down_until = 0.0
    return replica


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
