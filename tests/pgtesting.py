"""The school server on a PostgreSQL schema of a test's own, where CLASSROOM_TEST_POSTGRES_URL names a
server (CI sets it): `pg_schema` makes throw-away schemas, `pg_app` is the app on one. A module
imports the fixtures by name: `from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import os
import uuid

import pytest

from classroom_server import create_app
from classroom_server.db import database

URL = os.environ.get("CLASSROOM_TEST_POSTGRES_URL")


@pytest.fixture
def pg_schema():
    """A factory of throw-away schemas on the test server; yields URLs whose search_path is one."""
    psycopg2 = pytest.importorskip("psycopg2")
    admin = psycopg2.connect(URL)
    admin.autocommit = True
    made = []

    def make() -> str:
        schema = "t_" + uuid.uuid4().hex[:12]
        admin.cursor().execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return f"{URL}?options=-csearch_path%3D{schema}"

    yield make
    for schema in made:
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


@pytest.fixture
def pg_app(settings, pg_schema):
    app = create_app(settings.replace(database_url=pg_schema()))
    database.connect(reuse_if_open=True)
    yield app
    database.close()
