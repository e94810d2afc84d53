"""The database proxy: SQLite (WAL) in the data folder by default, PostgreSQL by URL."""
from __future__ import annotations

import logging
from pathlib import Path

from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

log = logging.getLogger(__name__)

database = DatabaseProxy()

# synchronous=FULL: an acknowledged write (a student's answer) must survive a power cut.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "full",
    "busy_timeout": 10000,
    "cache_size": -4000,  # 4 MB per connection: a few threads on a 1-2 GB board
}


class DatabaseError(Exception):
    """The database cannot be opened or used; the message says what to do."""


def open_database(url: str) -> Database:
    """Open the database named by `url` and bind it to the proxy."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder {path.parent} for the database: {exc.strerror}. "
                                f"Choose a writable --data-dir or fix its permissions.") from None
        db: Database = SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                                      timeout=10)
    else:
        db = connect(url)
        if not isinstance(db, (PostgresqlDatabase, SqliteDatabase)):
            raise DatabaseError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


class Prepared:
    """A hot query whose SQL is built once per database kind, then run with new parameters.

    Building SQL with peewee costs more than running it on SQLite; the pages every student loads
    at 9:00 (who is signed in, which classes) use these instead. `build` makes the query with
    placeholder values, in the order the parameters will be given.
    """

    def __init__(self, build):
        self.build = build
        self.sql: dict[type, str] = {}
        self.model = None

    def _sql(self) -> str:
        kind = type(database.obj)
        sql = self.sql.get(kind)
        if sql is None:
            query = self.build()
            self.model = query.model
            sql = self.sql[kind] = query.sql()[0]
        return sql

    def scalar(self, *params):
        """The first column of the first row (for counts)."""
        row = database.execute_sql(self._sql(), params).fetchone()
        return row[0] if row else None

    def __call__(self, *params) -> list:
        cursor = database.execute_sql(self._sql(), params)
        columns = self.model._meta.columns
        fields = [columns.get(d[0]) for d in cursor.description]
        rows = []
        for values in cursor.fetchall():
            # What peewee's cursor wrapper does, minus its generality: one object per row.
            row = self.model(__no_default__=1)
            row.__data__ = {field.name: (field.python_value(value) if value is not None else None)
                            for field, value in zip(fields, values) if field is not None}
            rows.append(row)
        return rows
