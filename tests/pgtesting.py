"""Throw-away PostgreSQL schemas, where CLASSROOM_TEST_POSTGRES_URL names a server (CI sets it).
`throwaway_schema` makes one and drops it on leaving, the one way the tests do (the fixtures below,
tests/hubtesting.py's `hub_database`, tests/hubprocess.py's hubs); `pg_schema` is a fixture making any
number, `pg_app` the school server on one. A module imports the fixtures by name:
`from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import os
import uuid
from contextlib import ExitStack, contextmanager
from typing import Iterator

import pytest

from classroom_server import create_app
from classroom_server.db import database

URL = os.environ.get("CLASSROOM_TEST_POSTGRES_URL")


def _execute(sql: str) -> None:
    # A connection for each statement: a schema can live as long as a module or a hub process, and a
    # connection kept meanwhile would only hold one of the server's slots.
    psycopg2 = pytest.importorskip("psycopg2")
    admin = psycopg2.connect(URL)
    try:
        admin.autocommit = True
        admin.cursor().execute(sql)
    finally:
        admin.close()


@contextmanager
def throwaway_schema(prefix: str = "t_") -> Iterator[str]:
    """A fresh schema on the test server (`prefix` and a random tail), dropped with all it holds on
    leaving; yields a URL whose search_path is that schema. Close the connections into it first: the
    drop waits for what they hold."""
    schema = prefix + uuid.uuid4().hex[:12]
    _execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{URL}?options=-csearch_path%3D{schema}"
    finally:
        _execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_schema():
    """A factory of throw-away schemas on the test server; yields URLs whose search_path is one."""
    with ExitStack() as schemas:
        yield lambda: schemas.enter_context(throwaway_schema())


@pytest.fixture
def pg_app(settings, pg_schema):
    app = create_app(settings.replace(database_url=pg_schema()))
    database.connect(reuse_if_open=True)
    yield app
    database.close()
