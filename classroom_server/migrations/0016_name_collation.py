"""PostgreSQL: the `names` collation (ICU, Kazakh) that class lists sort by (classroom_server/collation.py).
SQLite needs nothing stored: each connection registers the collation when it opens."""
from __future__ import annotations

from peewee import PostgresqlDatabase


def up(db) -> None:
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("CREATE COLLATION IF NOT EXISTS names (provider = icu, locale = 'kk-KZ')")
