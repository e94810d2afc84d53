"""The school's sync agent against the real hub (`classroom-hub serve` on loopback), through a real
fault-injecting link: enrolment, a full sync, status, the bandwidth cap, and a bad hub (garbage,
5xx, wrong acknowledgements, a clock far off, a revoked secret, lost records, a full disk at the
school): each time a clear error is recorded, no record is lost, and the next sync puts it right.
"""
from __future__ import annotations

import datetime
import json
import re
import shutil
import time
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from classroom_server import migrations
from classroom_server.admin.sync import sync_status
from classroom_server.cli import main as server_cli
from classroom_server.db import database
from classroom_server.demo import import_sample_packs
from classroom_server.models import LearningRecord, SyncLog, SyncRequest, SyncState
from classroom_server.settings import SettingsError, load_settings
from sync.agent import main as sync_cli, records as records_step
from sync.agent.jobs import sync_job, watch_requests_job
from sync.agent.school import school_now, within_hours

from .faultlink import FaultLink
from .helpers import fill_disk, post, reopen_database, sign_in_as, tmpfs
from .schoolsync import (TEMPLATE_RECORDS, add_records, assert_hub_has_exactly_the_school, copy_school, cursor, enroll,
                         enrolled, make_school_template, open_agent)
from .schoolsync import hub  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # a real hub subprocess on loopback


# --- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def school_template(tmp_path_factory) -> Path:
    return make_school_template(tmp_path_factory)


@pytest.fixture
def school_dir(school_template, tmp_path) -> Path:
    yield from copy_school(school_template, tmp_path)


@pytest.fixture
def link(hub):
    with FaultLink(("127.0.0.1", hub.port), latency=0.002) as running:
        yield running


def state() -> SyncState:
    return SyncState.get_by_id(1)


def canned(status: str, body: bytes, content_type: str = "text/html") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def rewrite_json(name: str, new: Callable[[int], int], only: str | None = None):
    """A meddling middlebox: changes the number `name` in the hub's JSON answers (those that have the
    key `only`)."""
    def rewrite(head: bytes, body: bytes) -> tuple[bytes, bytes]:
        try:
            answer = json.loads(body)
        except ValueError:
            return head, body
        if isinstance(answer, dict) and name in answer and (only is None or only in answer):
            answer[name] = new(answer[name])
            body = json.dumps(answer).encode()
        return head, body
    return rewrite


def fail_batches(head: bytes, body: bytes) -> tuple[bytes, bytes]:
    """A proxy in front of the hub that answers 500 to every batch (after the hub stored it)."""
    if b'"stored"' in body:
        head = head.replace(b" 200 OK", b" 500 INTERNAL SERVER ERROR", 1)
    return head, body


# --- enrolment, a full sync, status -------------------------------------------------------------------

def test_enroll_checks_the_hub_and_keeps_the_secret_private(hub, link, school_dir, tmp_path):
    enrolment = hub.add_school("School 1")
    wrong = enrolment.__class__(enrolment.school_id, "not-the-secret")
    result = enroll(hub, school_dir, link.url, wrong, tmp_path, expect_ok=False)
    assert "not enrolled" in result.output and "secret" in result.output
    assert not (school_dir / "keys" / "hub-secret").exists()
    result = enroll(hub, school_dir, link.url.replace(str(link.port), "9"), enrolment, tmp_path, expect_ok=False)
    assert "cannot reach the hub" in result.output

    result = enroll(hub, school_dir, link.url, enrolment, tmp_path)
    assert f"enrolled school {enrolment.school_id}" in result.output
    assert f"{TEMPLATE_RECORDS} record(s) will be sent" in result.output
    secret = school_dir / "keys" / "hub-secret"
    assert secret.read_text().strip() == enrolment.secret
    assert secret.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in secret.parent.iterdir()) == ["hub-secret"]  # no scratch file left
    open_agent(school_dir)
    row = state()
    assert (row.hub_url, row.school_id, row.acked_seq) == (link.url, enrolment.school_id, 0)


def test_once_sends_everything_in_batches_and_status_tells_the_truth(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "once"])
    assert result.exit_code == 0, result.output
    assert re.search(r"sent records 1-200 \(200, \d+ bytes", result.output)
    assert "done in" in result.output and f"{TEMPLATE_RECORDS} record(s) acknowledged" in result.output
    open_agent(school_dir)
    assert_hub_has_exactly_the_school(hub, school_id)

    statement = hub._query("SELECT statement FROM record WHERE school_id = ? AND seq = 1", (school_id,))[0][0]
    statement = json.loads(statement) if isinstance(statement, str) else statement  # text on SQLite
    first = LearningRecord.get_by_id(1)
    assert statement["id"] == first.uuid
    assert statement["actor"]["account"] == {"homePage": f"{link.url}/schools/{school_id}", "name": first.learner}

    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "status", "--json"])
    shown = json.loads(result.output)
    assert shown["enrolled"] and shown["school_id"] == school_id and shown["hub_url"] == link.url
    assert shown["waiting"] == 0 and shown["acked_seq"] == TEMPLATE_RECORDS
    assert shown["records_sent"] == TEMPLATE_RECORDS and shown["bytes_sent"] > 0
    assert shown["last_error"] is None and shown["last_success_at"] and shown["batch_size"] >= 200
    assert shown["attempts"][0]["ok"] is True and shown["attempts"][0]["records"] == TEMPLATE_RECORDS
    # gzip: a record's statement is ~1 kB of JSON; on the wire it is a small fraction of that
    assert shown["bytes_sent"] < TEMPLATE_RECORDS * 200

    add_records(7)
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "status"])
    assert "records waiting:  7 " in result.output and f"school {school_id} at {link.url}" in result.output
    assert "last attempt:" in result.output and ": ok" in result.output


def test_nothing_to_send_is_a_success_and_new_records_follow(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    assert agent.sync().ok
    outcome = agent.sync()
    assert outcome.ok and outcome.records == 0 and outcome.batches == 0
    add_records(3)
    outcome = agent.sync()
    assert outcome.ok and outcome.records == 3 and outcome.batches == 1
    assert_hub_has_exactly_the_school(hub, school_id)


def test_bandwidth_cap_spaces_the_batches(hub, link, school_dir, tmp_path):
    cap = 40_000
    agent, school_id = enrolled(hub, link, school_dir, tmp_path, CLASSROOM_SYNC_BANDWIDTH_BYTES_PER_SECOND=str(cap))
    started = time.monotonic()
    outcome = agent.sync(keep_going=lambda: cursor() < 800)
    took = time.monotonic() - started
    assert outcome.ok and outcome.batches == 3 and cursor() == 1400  # slow start: 200, 400, then 800
    # each batch is followed by the pause that keeps the average under the cap
    assert took >= outcome.bytes / cap * 0.95, (took, outcome.bytes)


# --- a bad hub, a bad link -----------------------------------------------------------------------------

def test_link_down_is_recorded_and_nothing_moves(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    link.down()
    outcome = sync_job(agent)
    assert not outcome.ok and outcome.code == "link_down" and "cannot reach the hub" in outcome.error
    assert cursor() == 0 and hub.records(school_id) == []
    row = state()
    assert row.last_error_code == "link_down" and row.last_attempt_at and row.last_success_at is None
    log = SyncLog.select().order_by(SyncLog.id.desc()).first()
    assert log.ok is False and log.error_code == "link_down" and log.finished_at
    link.down("blackhole")  # a dead modem: connections hang until the timeout
    slow = open_agent(school_dir, CLASSROOM_SYNC_TIMEOUT_SECONDS="1")
    outcome = slow.sync()
    assert outcome.code == "link_down" and "did not answer within 1 s" in outcome.error
    link.up()
    assert sync_job(agent).ok
    assert_hub_has_exactly_the_school(hub, school_id)
    assert state().last_error is None


@pytest.mark.parametrize("answer,expected", [
    (canned("200 OK", b"<html><body>Please sign in to the Wi-Fi</body></html>"), "captive portal"),
    (canned("502 Bad Gateway", b"<html>502 Bad Gateway</html>"), "not the classroom hub"),
    (canned("503 Service Unavailable", b'{"error": "down", "message": "maintenance"}', "application/json"),
     "503"),
])
def test_a_hub_answering_garbage_or_5xx_is_an_error_and_keeps_every_record(hub, link, school_dir, tmp_path,
                                                                            answer, expected):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    link.answer(answer)
    outcome = agent.sync()
    assert not outcome.ok and outcome.code == "hub_error" and expected in outcome.error
    assert cursor() == 0 and state().last_error_code == "hub_error"
    link.answer(None)
    assert agent.sync().ok
    assert_hub_has_exactly_the_school(hub, school_id)


def test_5xx_on_a_batch_leaves_the_cursor(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    # the first batch goes through; then the proxy in front of the hub loses its upstream
    outcome = agent.sync(keep_going=lambda: cursor() == 0)
    assert outcome.ok and cursor() == 200
    link.rewrite_responses(fail_batches)
    outcome = agent.sync()
    assert outcome.code == "hub_error" and "HTTP 500" in outcome.error and cursor() == 200
    link.rewrite_responses(None)
    assert agent.sync().ok
    assert_hub_has_exactly_the_school(hub, school_id)


def test_an_ack_changed_on_the_way_is_refused(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    link.rewrite_responses(rewrite_json("acked", lambda n: n + 50, only="stored"))
    outcome = agent.sync()
    # the hub signs its answer for this request: a number changed on the way no longer matches
    assert outcome.code == "unauthenticated" and "POST /api/v1/records" in outcome.error
    assert cursor() == 0  # the hub holds 1-200 now, but the agent did not take the wrong word for it
    link.rewrite_responses(None)
    outcome = agent.sync()
    assert outcome.ok and outcome.resent_records == 0  # the cursor call shows the hub holds 1-200
    assert_hub_has_exactly_the_school(hub, school_id)


def test_an_ack_below_the_cursor_changed_on_the_way_is_refused(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    assert agent.sync(keep_going=lambda: cursor() == 0).ok and cursor() == 200
    link.rewrite_responses(rewrite_json("acked", lambda n: 150, only="stored"))
    outcome = agent.sync()
    assert outcome.code == "unauthenticated" and cursor() == 200
    link.rewrite_responses(None)
    assert agent.sync().ok
    assert_hub_has_exactly_the_school(hub, school_id)


def test_a_clock_far_off_is_a_clear_error_and_nothing_is_sent(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    link.rewrite_responses(rewrite_json("time", lambda t: t - 2 * 3600))
    outcome = agent.sync()
    assert outcome.code == "clock" and "differ by 2.0 h" in outcome.error and "timedatectl" in outcome.error
    assert hub.records(school_id) == [] and cursor() == 0
    link.rewrite_responses(None)
    assert agent.sync().ok


def test_a_revoked_secret_is_a_clear_error_and_the_daemon_keeps_retrying(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path,
                                CLASSROOM_SYNC_INTERVAL_SECONDS="60", CLASSROOM_SYNC_RETRY_MAX_SECONDS="120")
    assert agent.sync(keep_going=lambda: cursor() == 0).ok
    hub.revoke(school_id)
    delays = []
    for _ in range(4):
        outcome = sync_job(agent)
        assert outcome.code == "revoked" and "enrol again" in outcome.error
        delays.append(agent.retry_delay())
    assert agent.failures == 4 and all(1 <= d <= 120 for d in delays)
    assert cursor() == 200 and LearningRecord.select().count() == TEMPLATE_RECORDS
    assert state().last_error_code == "revoked"


def test_unknown_school_or_wrong_secret_is_an_auth_error(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    (school_dir / "keys" / "hub-secret").write_text("replaced-by-mistake\n")
    outcome = agent.sync()
    assert outcome.code == "auth" and "bad_signature" in outcome.error and cursor() == 0
    SyncState.update(school_id="sch-nosuch").execute()
    assert agent.sync().code == "auth"


def test_a_hub_that_lost_records_stops_the_sync_until_rewound(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    assert agent.sync().ok
    hub.forget_after(school_id, 1200)  # the hub was restored from an old backup
    outcome = agent.sync()
    assert outcome.code == "hub_lost_records" and "rewind" in outcome.error and cursor() == TEMPLATE_RECORDS
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "rewind", "--yes"])
    assert result.exit_code == 0 and "cursor moved back to 1200" in result.output, result.output
    agent = open_agent(school_dir)
    outcome = agent.sync()
    assert outcome.ok and outcome.records == TEMPLATE_RECORDS - 1200
    assert_hub_has_exactly_the_school(hub, school_id)


def test_not_enrolled_is_reported(school_dir):
    agent = open_agent(school_dir)
    outcome = agent.sync()
    assert outcome.code == "not_enrolled" and "classroom-sync enroll" in outcome.error
    assert sync_status().last_error_code == "not_enrolled"
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "once"])
    assert result.exit_code == 1 and "not enrolled" in result.output
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "status"])
    assert "enrolled:         no" in result.output and "FAILED (not_enrolled)" in result.output
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "now"])
    assert result.exit_code == 0 and "asked" in result.output
    open_agent(school_dir)
    assert SyncRequest.select().where(SyncRequest.done_at.is_null()).count() == 1


def test_the_sync_log_is_kept_short(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    now = datetime.datetime(2026, 1, 1)
    SyncLog.insert_many([{"started_at": now, "ok": True} for _ in range(records_step.LOG_KEEP + 40)]).execute()
    assert agent.sync().ok
    assert SyncLog.select().count() == records_step.LOG_KEEP
    assert SyncLog.select().order_by(SyncLog.id.desc()).first().ok is True


# --- a full disk at the school ------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs."""
    yield from tmpfs(tmp_path / "small-disk", "8m")


def fill(folder: Path) -> Path:
    """Fill the disk that holds `folder`, after making SQLite's WAL empty so its next write needs space."""
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return fill_disk(folder / "filler")


def test_a_full_disk_at_the_school_loses_no_record(hub, link, school_template, small_disk, tmp_path):
    for name in ("classroom.sqlite3", "classroom-server.ini"):
        shutil.copy(school_template / name, small_disk / name)
    agent, school_id = enrolled(hub, link, small_disk, tmp_path)

    filler = fill(small_disk)  # full before the sync starts: nothing is sent
    outcome = agent.sync()
    assert outcome.code == "disk" and "nothing was sent" in outcome.error and hub.records(school_id) == []
    filler.unlink()

    lines, filled = [], []

    def fill_after_first_batch(line: str) -> None:
        lines.append(line)
        if line.startswith("sent records") and not filled:
            filled.append(fill(small_disk))
    outcome = agent.sync(progress=fill_after_first_batch)
    # the second batch reached the hub, but its acknowledgement could not be written down here
    assert outcome.code == "disk" and "nothing is lost" in outcome.error, lines
    assert cursor() == 200 and len(hub.records(school_id)) == 600  # the second batch: 400 (slow start)
    filled[0].unlink()

    outcome = agent.sync()
    assert outcome.ok and outcome.resent_records == 0  # the hub's cursor says what it holds
    assert_hub_has_exactly_the_school(hub, school_id)


# --- the daemon's jobs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,hour,minute,inside", [
    ("00:00-24:00", 0, 0, True), ("00:00-24:00", 23, 59, True),
    ("08:00-15:00", 7, 59, False), ("08:00-15:00", 8, 0, True), ("08:00-15:00", 15, 0, False),
    ("18:00-06:00", 23, 0, True), ("18:00-06:00", 5, 59, True), ("18:00-06:00", 12, 0, False),
    ("00:00-07:30, 18:00-24:00", 7, 29, True), ("00:00-07:30, 18:00-24:00", 12, 0, False),
])
def test_allowed_hours(spec, hour, minute, inside):
    assert within_hours(spec, datetime.datetime(2026, 3, 2, hour, minute)) is inside


@pytest.mark.parametrize("value,message", [("25:00-26:00", "not a window"), ("8-15", "expected hours like"),
                                           ("09:00-09:00", "not a window")])
def test_bad_hours_are_refused_with_the_setting_named(tmp_path, value, message):
    with pytest.raises(SettingsError, match=rf"CLASSROOM_SYNC_HOURS = '{value}': .*{message}"):
        load_settings(tmp_path, environ={"CLASSROOM_SYNC_HOURS": value})


def test_outside_the_hours_only_sync_now_runs(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    hour = school_now(agent.settings).hour
    closed = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    agent.settings = agent.settings.replace(sync_hours=closed)
    outcome = sync_job(agent)
    assert outcome.skipped and "outside the allowed hours" in outcome.skipped and cursor() == 0
    assert not watch_requests_job(agent)
    SyncRequest.create(requested_by="boss")
    assert watch_requests_job(agent)
    outcome = sync_job(agent)
    assert outcome.ok and cursor() == TEMPLATE_RECORDS
    assert SyncRequest.get().done_at is not None and not watch_requests_job(agent)


# --- the admin page -----------------------------------------------------------------------------------

def test_admin_page_shows_the_sync_state_and_asks_for_a_sync(client, school):
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Sync with the national platform" in page and "not enrolled" in page
    assert client.post("/admin/sync").status_code == 400  # no CSRF token
    assert SyncRequest.select().count() == 0
    response = post(client, "/admin/sync")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/#sync-heading")
    assert post(client, "/admin/sync").status_code == 302
    assert SyncRequest.select().count() == 1  # one waiting request is enough
    assert SyncRequest.get().requested_by == "boss"

    SyncState.update(hub_url="https://hub.example.kz", school_id="sch-abc123", acked_seq=0,
                     last_attempt_at=datetime.datetime(2026, 5, 1, 9, 0), last_error_code="link_down",
                     last_error="cannot reach the hub at https://hub.example.kz: Connection refused",
                     bytes_sent=3 * 1024 * 1024, records_sent=12345).execute()
    page = client.get("/admin/").get_data(as_text=True)
    assert "School sch-abc123 at https://hub.example.kz" in page
    assert "The national platform cannot be reached" in page and "Connection refused" in page
    assert "12,345 records, 3 MB" in page and "waits for the sync agent" in page
    page = client.get("/admin/", headers={"Accept-Language": "kk"}).get_data(as_text=True)
    assert "Sync with the national platform" not in page  # translated


def test_a_teacher_cannot_ask_for_a_sync(client, school):
    sign_in_as(client, school, "teacher")
    assert post(client, "/admin/sync").status_code == 403
    assert SyncRequest.select().count() == 0


# --- migrations and the simulate command -----------------------------------------------------------------

def test_sync_tables_migrate_with_or_without_the_migrations_before(tmp_path):
    from peewee import SqliteDatabase
    db = SqliteDatabase(str(tmp_path / "old.db"))
    migrations.migrate(db, upto=3)
    applied = migrations.migrate(db)
    assert "0005_sync" in applied
    assert {"sync_state", "sync_request", "sync_log"} <= set(db.get_tables())
    assert db.execute_sql("SELECT id, acked_seq, batch_size FROM sync_state").fetchall() == [(1, 0, 200)]


def test_dev_simulate_writes_realistic_records_through_the_service(tmp_path):
    folder = tmp_path / "sim"
    runner = CliRunner()
    result = runner.invoke(server_cli, ["--data-dir", str(folder), "dev", "simulate", "--students", "3",
                                        "--records", "50"])
    assert result.exit_code == 1 and "no exercises are installed" in result.output
    settings = load_settings(folder, environ={})
    reopen_database(settings.effective_database_url)
    import_sample_packs(settings)
    database.close()
    result = runner.invoke(server_cli, ["--data-dir", str(folder), "dev", "simulate", "--students", "3",
                                        "--records", "50", "--days", "2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "wrote 150 records (seq 1-150) for 3 students of class Simulated (3 new)" in result.output
    reopen_database(settings.effective_database_url)
    rows = list(LearningRecord.select().order_by(LearningRecord.seq))
    assert [r.seq for r in rows] == list(range(1, 151))
    verbs = {r.verb for r in rows}
    assert {"opened", "answered"} <= verbs
    answers = [r for r in rows if r.verb == "answered"]
    assert any(r.correct for r in answers) and any(not r.correct for r in answers)
    assert all(r.duration_ms and r.response and r.item_id for r in answers)
    assert len({r.device_id for r in rows}) == 3 and len({r.user_id for r in rows}) == 3
    # per device the numbers run 1, 2, 3, ... as the learn views make them
    for device in {r.device_id for r in rows}:
        numbers = [r.device_sequence for r in rows if r.device_id == device]
        assert numbers == list(range(1, len(numbers) + 1))
    result = runner.invoke(server_cli, ["--data-dir", str(folder), "dev", "simulate", "--students", "3",
                                        "--records", "10"])
    assert "(0 new)" in result.output  # the class and its students are reused
    database.close()
