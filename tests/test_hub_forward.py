"""Forwarding received records to an external LRS: ralph (from PyPI) on loopback, and an LRS that is down.

ralph runs from its own virtualenv (its pins clash with ours): point CLASSROOM_TEST_RALPH at its
`ralph` executable, or put one on PATH, e.g.
    python3 -m venv .venv-ralph && .venv-ralph/bin/pip install 'ralph-malph[backend-fs,lrs,cli]' requests

ralph's file-system backend (its only one that needs no database server) creates its statements
file on the first write and refuses every later write ("already exists and overwrite is not
allowed", ralph 4.2 and 5.1 alike). The fixture therefore starts ralph's own API app with that
backend set to append, the one change; ralph's HTTP API, auth, validation and duplicate handling
are ralph's as published.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from sync.hub import forward, migrations, services
from sync.hub.cli import main as hub_cli
from sync.hub.db import open_database
from sync.hub.models import School
from sync.hub.settings import load_settings

from .hubtesting import hub_database, make_records

REPO = Path(__file__).resolve().parent.parent
LRS_USER, LRS_PASSWORD = "hub", "lrs-password-for-tests"
RALPH_APPENDING = """
import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=0)
"""


def ralph_executable() -> str | None:
    for candidate in (os.environ.get("CLASSROOM_TEST_RALPH"), shutil.which("ralph"),
                      str(REPO / ".venv-ralph" / "bin" / "ralph")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def hub_settings(tmp_path_factory):
    """A hub database of this module's own (a fresh PostgreSQL schema when one is named)."""
    data_dir = tmp_path_factory.mktemp("hub")
    env = {"CLASSROOM_HUB_FORWARD_RETRIES": "1", "CLASSROOM_HUB_FORWARD_BACKOFF": "0.05",
           "CLASSROOM_HUB_FORWARD_BATCH_SIZE": "50", "CLASSROOM_HUB_FORWARD_TIMEOUT": "20"}
    with hub_database("hubfw_") as database_url:
        if database_url:
            env["CLASSROOM_HUB_DATABASE_URL"] = database_url
        settings = load_settings(data_dir, environ=env)
        migrations.migrate(open_database(settings.effective_database_url))
        yield settings, {**env, "CLASSROOM_HUB_DATA_DIR": str(data_dir)}


class Ralph:
    def __init__(self, url: str, data_dir: Path):
        self.url, self.data_dir = url, data_dir  # url: the xAPI endpoint, ending in /

    def statement_ids(self) -> list[str]:
        """Every statement id ralph answers to a GET, following `more` links."""
        session = requests.Session()
        session.trust_env = False
        ids, url = [], self.url + "statements/?limit=500"
        while url:
            response = session.get(url, auth=(LRS_USER, LRS_PASSWORD), timeout=30,
                                   headers={"X-Experience-API-Version": "1.0.3"})
            assert response.status_code == 200, response.text
            body = response.json()
            ids += [s["id"] for s in body["statements"]]
            url = self.url.split("/xAPI/")[0] + body["more"] if body.get("more") else None
        return ids

    def stored_lines(self) -> int:
        return sum(1 for path in self.data_dir.glob("*") for _ in path.open(encoding="utf-8"))


@pytest.fixture(scope="module")
def ralph(tmp_path_factory):
    executable = ralph_executable()
    if not executable:
        pytest.skip("ralph is not installed: set CLASSROOM_TEST_RALPH to a `ralph` executable, e.g. after "
                    "`python3 -m venv .venv-ralph && .venv-ralph/bin/pip install "
                    "'ralph-malph[backend-fs,lrs,cli]' requests`")
    folder = tmp_path_factory.mktemp("ralph")
    env = {**os.environ, "RALPH_AUTH_FILE": str(folder / "auth.json"), "RALPH_RUNSERVER_BACKEND": "fs",
           "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(folder / "statements")}
    subprocess.run([executable, "auth", "-u", LRS_USER, "-p", LRS_PASSWORD, "-s", "all",
                    "-A", "hub", "https://platform.example.kz", "-w"],
                   env=env, check=True, capture_output=True, timeout=120)
    python = str(Path(executable).parent / "python")
    process = subprocess.Popen([python, "-c", RALPH_APPENDING], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    port, lines = None, []
    deadline = time.monotonic() + 90
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
        port = int(match.group(1)) if match else None
    if port is None:
        process.kill()
        pytest.fail("ralph did not start:\n" + "".join(lines))
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # keep the pipe drained
    yield Ralph(f"http://127.0.0.1:{port}/xAPI/", folder / "statements")
    process.terminate()
    process.wait(timeout=10)


def with_records(counts: dict[str, list[int]]) -> dict[str, list[dict]]:
    """Enrol a school per key and store its records; returns the records by school id."""
    out = {}
    for name, seqs in counts.items():
        school, _ = services.enrol_school(name)
        records = make_records(school.id, seqs)
        services.store_batch(school.id, records, "test")
        out[school.id] = records
    return out


def test_forwarding_to_ralph_sends_each_acked_statement_once(hub_settings, ralph):
    settings, env = hub_settings
    settings = settings.replace(forward_url=ralph.url, forward_username=LRS_USER, forward_password=LRS_PASSWORD)
    sent = with_records({"A": list(range(1, 121)) + list(range(200, 211)), "B": list(range(1, 31))})
    (a, records_a), (b, records_b) = sent.items()

    result = forward.forward_pass(settings)
    assert (result.sent, result.errors) == (150, {})
    expected = {r["uuid"] for r in records_a[:120] + records_b}  # A's 200..210 wait for 121..199
    ids = ralph.statement_ids()
    assert set(ids) == expected and len(ids) == 150
    assert (School.get_by_id(a).forwarded, School.get_by_id(b).forwarded) == (120, 30)
    assert forward.forward_pass(settings).sent == 0

    # A cut after the LRS stored a batch but before the cursor moved: the next pass re-sends, the
    # LRS keeps one copy of each statement.
    School.update(forwarded=60).where(School.id == a).execute()
    assert forward.forward_pass(settings).sent == 60
    assert sorted(ralph.statement_ids()) == sorted(expected) and ralph.stored_lines() == 150
    assert School.get_by_id(a).forward_error is None

    # The gap fills: the rest of A goes too, through the command.
    services.store_batch(a, make_records(a, range(121, 200)), "test")
    cli_env = {**env, "CLASSROOM_HUB_FORWARD_URL": ralph.url, "CLASSROOM_HUB_FORWARD_USERNAME": LRS_USER,
               "CLASSROOM_HUB_FORWARD_PASSWORD": LRS_PASSWORD}
    result = CliRunner().invoke(hub_cli, ["forward"], env=cli_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "forwarded 90 statement(s) from 1 school(s)" in result.output
    assert len(ralph.statement_ids()) == 240 and School.get_by_id(a).forwarded == 210


def test_a_409_counts_as_forwarded_only_when_the_lrs_holds_the_same_statement(hub_settings, ralph):
    settings, _ = hub_settings
    settings = settings.replace(forward_url=ralph.url, forward_username=LRS_USER, forward_password=LRS_PASSWORD)
    school_id, records = next(iter(with_records({"F": [1, 2, 3, 4]}).items()))
    session = requests.Session()
    session.trust_env = False

    def put(statement: dict) -> int:
        return session.put(ralph.url + "statements", params={"statementId": statement["id"]}, json=statement,
                           auth=(LRS_USER, LRS_PASSWORD), headers={"X-Experience-API-Version": "1.0.3"},
                           timeout=30).status_code

    # Record 2 reached the LRS before, written with the same instant in another spelling: ralph
    # compares the text and answers 409, yet it is the same statement.
    same = json.loads(json.dumps(records[1]["statement"]))
    same["timestamp"] = same["timestamp"].replace("Z", ".000+00:00")
    assert put(same) == 204
    # Record 3 reached it as a different statement under the same id (as a teacher's export did when
    # it named the school by the address a browser used).
    different = json.loads(json.dumps(records[2]["statement"]))
    different["actor"]["account"]["homePage"] = "http://192.168.1.10/schools/local"
    assert put(different) == 204

    result = forward.forward_pass(settings)
    error = result.errors[school_id]
    assert f"a different statement under id {records[2]['uuid']}" in error and "differ in actor" in error
    row = School.get_by_id(school_id)
    assert row.forwarded == 0 and row.forward_error == error  # the cursor does not pass the conflict
    # Each statement alone: the same one counts, the different one still does not.
    client = forward.LRSClient(settings)
    client.send([records[1]["statement"]])
    with pytest.raises(forward.ForwardError, match="differ in actor"):
        client.send([records[2]["statement"]])
    School.update(forwarded=4).where(School.id == school_id).execute()  # the next tests' passes skip it


def test_wrong_lrs_credentials_stop_the_pass_and_move_no_cursor(hub_settings, ralph):
    settings, _ = hub_settings
    sent = with_records({"C": [1, 2, 3]})
    school_id = next(iter(sent))
    before = len(ralph.statement_ids())
    result = forward.forward_pass(settings.replace(forward_url=ralph.url, forward_username=LRS_USER,
                                                   forward_password="wrong"))
    assert "credentials" in result.errors[school_id]
    assert School.get_by_id(school_id).forwarded == 0 and "credentials" in School.get_by_id(school_id).forward_error
    assert len(ralph.statement_ids()) == before


def test_forward_loop_is_its_own_process(hub_settings, ralph):
    settings, env = hub_settings
    school_id = next(iter(with_records({"D": list(range(1, 21))})))
    cli_env = {**os.environ, **env, "PYTHONPATH": str(REPO), "CLASSROOM_HUB_FORWARD_URL": ralph.url,
               "CLASSROOM_HUB_FORWARD_USERNAME": LRS_USER, "CLASSROOM_HUB_FORWARD_PASSWORD": LRS_PASSWORD,
               "CLASSROOM_HUB_FORWARD_INTERVAL": "0.2"}
    process = subprocess.Popen([sys.executable, "-m", "sync.hub.cli", "forward", "--loop"], env=cli_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def forwarded() -> int:
            return School.select(School.forwarded).where(School.id == school_id).scalar()
        deadline = time.monotonic() + 30
        while forwarded() < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert forwarded() == 20
        services.store_batch(school_id, make_records(school_id, range(21, 26)), "test")
        deadline = time.monotonic() + 30
        while forwarded() < 25 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert forwarded() == 25
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_lrs_that_is_down_is_retried_then_reported(hub_settings):
    settings, env = hub_settings
    school_id = next(iter(with_records({"E": [1, 2]})))
    import socket
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}/xAPI/"
    slept = []
    client = forward.LRSClient(settings.replace(forward_url=dead, forward_retries=2), sleep=slept.append)
    result = forward.forward_pass(settings.replace(forward_url=dead), client)
    assert "cannot reach the LRS" in result.errors[school_id] and "tried 3 times" in result.errors[school_id]
    assert len(slept) == 2 and all(0 <= s <= 0.05 * 2 for s in slept)
    row = School.get_by_id(school_id)
    assert row.forwarded == 0 and "cannot reach the LRS" in row.forward_error
    cli_env = {**env, "CLASSROOM_HUB_FORWARD_URL": dead}
    result = CliRunner().invoke(hub_cli, ["report", "--json"], env=cli_env, catch_exceptions=False)
    report = {row["school_id"]: row for row in json.loads(result.output)}
    assert "cannot reach the LRS" in report[school_id]["forward_error"]
    result = CliRunner().invoke(hub_cli, ["forward"], env=cli_env, catch_exceptions=False)
    assert result.exit_code == 1 and "failed" in result.output
