"""The national hub inside the test process: a database of a module's own (a fresh PostgreSQL schema,
or SQLite), the hub app on waitress on loopback, a signed client as a school's agent is, and records
to send. Tests import these from here (`from tests.hubtesting import Agent, make_records`); the hub as
separate processes is tests/hubprocess.py.

On PostgreSQL when CLASSROOM_TEST_POSTGRES_URL names a server, as CI does; on a SQLite file otherwise.
"""
from __future__ import annotations

import datetime
import os
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from classroom_server.domain.statements import PlainRecord, to_statement
from sync import protocol
from sync.hub import migrations
from sync.hub.app import create_app
from sync.hub.db import database, open_database
from sync.hub.settings import load_settings
from tests.helpers import serve_in_thread
from tests.pgtesting import throwaway_schema

PG_URL = os.environ.get("CLASSROOM_TEST_POSTGRES_URL")
PLATFORM = "https://platform.example.kz"
VERBS = ("opened", "answered", "answered", "answered", "completed", "progressed", "read")


# --- what schools send ----------------------------------------------------------------------------

def statement_for(school_id: str, seq: int, uid: str | None = None) -> dict:
    """A realistic xAPI statement, built the way the school's agent builds it."""
    uid = uid or str(uuid.uuid4())
    verb = VERBS[seq % len(VERBS)]
    answered = verb == "answered"
    record = PlainRecord(
        id=uid, device_id="dev-" + school_id[-4:], sequence=seq,
        timestamp=datetime.datetime(2025, 3, 1, 9, 0, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seq),
        learner=f"p-{seq % 500:04d}", school_id=school_id, verb=verb, pack_id="kz.math.5", node_id="fractions-1",
        node_kind="exercise" if answered else "lesson", language="kk", item_id=f"q{seq % 12}" if answered else None,
        class_id="5A", response="b" if answered else None, correct=(seq % 3 != 0) if answered else None,
        score=1.0 if answered and seq % 3 else (0.0 if answered else None), duration_ms=12000 if answered else None,
        attempt=1 if answered else None)
    return to_statement(record, PLATFORM)


def make_records(school_id: str, seqs) -> list[dict]:
    out = []
    for seq in seqs:
        uid = str(uuid.uuid4())
        out.append({"seq": seq, "uuid": uid, "statement": statement_for(school_id, seq, uid)})
    return out


# --- the hub's database ---------------------------------------------------------------------------

@contextmanager
def hub_database(prefix: str = "hub_") -> Iterator[str]:
    """A hub database of the caller's own: yields the URL of a fresh PostgreSQL schema (named `prefix`
    and a random tail) when PG_URL names a server, else "" (SQLite in the hub's data folder).

    On leaving, this process's connections to the hub database are closed, then the schema is dropped
    (with a pooled connection still open the drop would wait for it)."""
    with throwaway_schema(prefix) if PG_URL else nullcontext("") as url:
        try:
            yield url
        finally:
            if not database.is_closed():
                database.close()
            if hasattr(database.obj, "close_all"):
                database.obj.close_all()


@pytest.fixture(scope="module")
def hub_database_url():
    """A fresh PostgreSQL schema for the module that uses it, or "" for SQLite in the data folder."""
    with hub_database() as url:
        yield url


# --- the hub on loopback --------------------------------------------------------------------------

@dataclass
class Hub:
    url: str
    app: object
    data_dir: Path
    env: dict  # the environment a `classroom-hub` command needs to reach this hub's database


def hub_env(data_dir: Path, database_url: str = "", **settings: str) -> dict:
    """The environment of a hub with this data folder and database ("" for SQLite in the folder), plus
    `settings` as CLASSROOM_HUB_* variables."""
    env = {"CLASSROOM_HUB_DATA_DIR": str(data_dir), **settings}
    if database_url:
        env["CLASSROOM_HUB_DATABASE_URL"] = database_url
    return env


@contextmanager
def hub_on_loopback(data_dir: Path, env: dict, *, migrate: bool = True) -> Iterator[Hub]:
    """The real hub app on waitress on a free loopback port, stopped on leaving. `migrate`: bring its
    database to the newest schema first (False where the caller ran `classroom-hub init`)."""
    settings = load_settings(data_dir, environ=env)
    if migrate:
        migrations.migrate(open_database(settings.effective_database_url))
    app = create_app(settings)
    # The body limit of the hub's own `serve` (sync/hub/cli.py): a body just over the protocol's
    # limit reaches the app, which answers it with its JSON 413.
    url, stop = serve_in_thread(app, max_request_body_size=protocol.MAX_BODY_BYTES + 1024)
    try:
        yield Hub(url, app, data_dir, env)
    finally:
        stop()


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, never a proxy from the environment
    return session


class Agent:
    """A minimal signed client, as the school's agent talks to the hub."""

    def __init__(self, hub: Hub, school_id: str, secret: str):
        self.hub, self.school_id, self.secret = hub, school_id, secret
        self.session = http()

    def request(self, method: str, path: str, body: bytes = b"", *, now: float | None = None,
                secret: str | None = None, school_id: str | None = None, headers: dict | None = None,
                signed: bool = True) -> requests.Response:
        sent = {"User-Agent": "classroom-sync/9.9.9-test"}
        if method == "POST":
            sent.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
        if signed:
            sent.update(protocol.sign_request(school_id or self.school_id, secret or self.secret, method, path, body,
                                              now=now))
        sent.update(headers or {})
        return self.session.request(method, self.hub.url + path, data=body, headers=sent, timeout=60)

    def send(self, records: list[dict], batch_school: str | None = None, **kwargs) -> requests.Response:
        body = protocol.encode_batch(batch_school or self.school_id, "9.9.9-test", records)
        return self.request("POST", "/api/v1/records", body, **kwargs)

    def cursor(self, **kwargs) -> requests.Response:
        return self.request("GET", "/api/v1/records/cursor", **kwargs)
