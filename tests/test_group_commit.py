"""Group commit: answers that arrive together share one transaction and one commit.

Each test runs on SQLite and, when CLASSROOM_TEST_POSTGRES_URL names a server, on PostgreSQL too.
To put writes in one group for sure, another connection holds the write lock while they queue:
the first writer waits for the lock, and every write that comes meanwhile joins its group.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from peewee import IntegrityError

from classroom_server import create_app, db, migrations
from classroom_server.accounts import services as accounts
from classroom_server.db import database, is_sqlite
from classroom_server.learn import records
from classroom_server.learn.records import Interaction, new_device_id, record
from classroom_server.models import LearningRecord, User

from .pgtesting import URL
from .pgtesting import pg_schema  # noqa: F401  (fixture, for a schema of db_app's own)


def answer(item: str = "q1") -> Interaction:
    return Interaction(verb="answered", pack_id="kz.sample.math5-fractions", node_id="fractions.ex1",
                       node_kind="exercise", language="kk", item_id=item, response="b", correct=True,
                       score=1.0, attempt=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_app(request, settings):
    """A migrated school on SQLite (the data folder's file) or on a throw-away PostgreSQL schema."""
    if request.param == "postgresql":
        if not URL:
            pytest.skip("no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
        settings = settings.replace(database_url=request.getfixturevalue("pg_schema")())
    app = create_app(settings)
    database.connect(reuse_if_open=True)
    migrations.migrate(database.obj)
    yield app
    database.close()


@pytest.fixture
def students(db_app):
    with db_app.app_context():
        return [accounts.create_user(None, f"Student {n}", "student") for n in range(3)]


def opened(node_id: str = "fractions.lesson.compare") -> Interaction:
    return Interaction(verb="opened", pack_id="kz.sample.math5-fractions", node_id=node_id, node_kind="lesson",
                       language="kk")


@contextmanager
def write_lock_held_elsewhere(group: db.GroupCommit = records._GROUP):
    """Hold the database's write lock on a connection of our own; writers wait until the block ends.

    Yields a function that tells whether a writer is waiting for that lock.
    """
    if is_sqlite():
        other = sqlite3.connect(database.obj.database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        # A leader waits in BEGIN IMMEDIATE before it takes its group: its own write is still queued.
        waiting = lambda: group.queued >= 1  # noqa: E731
    else:
        import psycopg2
        other = psycopg2.connect(dbname=database.obj.database, **database.obj.connect_params)
        other.autocommit = True
        cursor = other.cursor()
        cursor.execute("BEGIN")
        # The group's first statement (the device upsert, or the lookup of offline ids) waits.
        cursor.execute("LOCK TABLE device, learning_record IN EXCLUSIVE MODE")
        watcher = psycopg2.connect(dbname=database.obj.database, **database.obj.connect_params)
        watcher.autocommit = True

        def waiting() -> bool:
            with watcher.cursor() as look:
                look.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                return look.fetchone()[0] >= 1
    try:
        yield waiting
    finally:
        if is_sqlite():
            other.execute("COMMIT")
        else:
            cursor.execute("COMMIT")
            watcher.close()
        other.close()


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)  # polling a condition, not guessing a duration


def in_threads(calls) -> tuple[list, list, list]:
    """Start each call in a thread of its own, all at once; (threads, results, errors), in the calls' order."""
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except Exception as exc:  # kept for the test to look at
            errors[index] = exc
        finally:
            database.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results, errors


def join(threads) -> None:
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def grouped(calls) -> tuple[list, list]:
    """Run the calls at once in as few groups as the database allows: the first call leads a group
    and waits for a write lock held elsewhere, while the others queue behind it. On SQLite the
    leader takes its group once it has the lock, so all of them form one group; on PostgreSQL it
    takes it at BEGIN, alone, and the others form the next group."""
    with write_lock_held_elsewhere() as leader_waits:
        threads, results, errors = in_threads(calls[:1])
        wait_for(leader_waits)
        queued = records._GROUP.queued
        more, more_results, more_errors = in_threads(calls[1:])
        wait_for(lambda: records._GROUP.queued == queued + len(calls) - 1)
    join(threads + more)
    return results + more_results, errors + more_errors


def test_many_threads_answering_at_once_are_each_stored_once_in_order(students):
    phone, tablet = new_device_id(), new_device_id()
    calls = [lambda s=students[n % 3], d=(phone, tablet)[n % 2]: record(s, d, answer()) for n in range(40)]
    threads, results, errors = in_threads(calls)
    join(threads)
    assert errors == [None] * 40
    assert all(new for _, new in results)
    assert LearningRecord.select().count() == 40
    assert len({row.uuid for row, _ in results}) == 40
    for device in (phone, tablet):
        numbers = sorted(r.device_sequence for r in LearningRecord.select().where(LearningRecord.device == device))
        assert numbers == list(range(1, 21))  # contiguous and unique per device


def test_a_group_shares_one_transaction_and_numbers_each_device_in_order(students):
    phone, tablet = new_device_id(), new_device_id()
    calls = [lambda n=n: record(students[n % 3], (phone, tablet)[n % 2], answer(f"q{n}")) for n in range(12)]
    results, errors = grouped(calls)
    assert errors == [None] * 12
    rows = [row for row, _ in results]
    stored = {r.uuid: r for r in LearningRecord.select()}
    assert len(stored) == 12
    for row in rows:  # what each thread got back is what was stored
        assert (stored[row.uuid].seq, stored[row.uuid].device_sequence) == (row.seq, row.device_sequence)
    for device in (phone, tablet):
        mine = sorted((r for r in rows if r.device_id == device), key=lambda r: r.seq)
        # The school's order (seq) and the device's order agree, with no gap.
        assert [r.device_sequence for r in mine] == list(range(1, 7))


def test_a_failing_answer_in_a_group_does_not_lose_the_others(students):
    device = new_device_id()
    gone = User(id=987654, pseudonym="0" * 32)  # never stored: its record breaks a foreign key
    calls = [lambda n=n: record(students[n % 3], device, answer(f"q{n}")) for n in range(5)]
    calls.insert(2, lambda: record(gone, device, answer("bad")))  # not the first: that one leads
    results, errors = grouped(calls)
    assert isinstance(errors[2], IntegrityError)
    assert [e for i, e in enumerate(errors) if i != 2] == [None] * 5
    assert LearningRecord.select().count() == 5
    assert not LearningRecord.select().where(LearningRecord.item_id == "bad").exists()
    # The failed one's number was given back: the device's records stay contiguous.
    assert sorted(r.device_sequence for r in LearningRecord.select()) == [1, 2, 3, 4, 5]


def test_an_offline_answer_uploaded_twice_at_once_is_stored_once(students):
    device, offline_id = new_device_id(), str(uuid.uuid4())
    calls = [lambda: record(students[0], device, answer(), record_uuid=offline_id) for _ in range(3)]
    calls.append(lambda: record(students[1], device, answer()))
    results, errors = grouped(calls)
    assert errors == [None] * 4
    assert [new for _, new in results[:3]].count(True) == 1
    assert len({row.seq for row, _ in results[:3]}) == 1  # the replays get the stored record
    assert LearningRecord.select().where(LearningRecord.uuid == offline_id).count() == 1
    assert LearningRecord.select().count() == 2
    # Uploaded again later: the stored record comes back, nothing new.
    again, new = record(students[0], device, answer(), record_uuid=offline_id)
    assert not new and again.seq == results[0][0].seq and LearningRecord.select().count() == 2


def test_a_record_inside_the_callers_transaction_commits_or_rolls_back_with_it(students):
    device = new_device_id()
    with pytest.raises(RuntimeError):
        with database.atomic():
            record(students[0], device, answer())
            raise RuntimeError("the caller changes its mind")
    assert LearningRecord.select().count() == 0
    with database.atomic():
        row, new = record(students[0], device, answer())
    assert new and LearningRecord.get(LearningRecord.uuid == row.uuid).device_sequence == 1


def test_answers_to_one_item_at_once_get_their_own_attempt_numbers(students):
    # A double tap, or two devices: the tries are counted inside the write, not before it.
    device = new_device_id()
    results, errors = grouped([lambda: record(students[0], device, answer("q1")) for _ in range(3)])
    assert errors == [None] * 3
    assert sorted(row.attempt for row, _ in results) == [1, 2, 3]
    assert sorted(r.attempt for r in LearningRecord.select()) == [1, 2, 3]
    # Another item, another student: counted apart.
    row, _ = record(students[1], device, answer("q1"))
    assert row.attempt == 1


def test_an_answer_beyond_the_tries_allowed_is_refused_inside_the_write(students):
    device = new_device_id()
    record(students[0], device, answer("q1"), tries_allowed=2)
    calls = [lambda: record(students[0], device, answer("q1"), tries_allowed=2) for _ in range(3)]
    results, errors = grouped(calls)
    assert sum(error is None for error in errors) == 1
    assert all(isinstance(error, records.NoTriesLeft) for error in errors if error is not None)
    assert sorted(r.attempt for r in LearningRecord.select()) == [1, 2]
    # The refused ones gave their device numbers back.
    assert sorted(r.device_sequence for r in LearningRecord.select()) == [1, 2]


def test_a_page_opened_while_a_group_is_written_is_sent_at_once_and_its_record_stored_after(students):
    device = new_device_id()
    with write_lock_held_elsewhere() as leader_waits:
        threads, _, errors = in_threads([lambda: record(students[0], device, answer())])
        wait_for(leader_waits)
        # The lock is still held elsewhere, so no commit can have happened: this returns without one.
        assert records.store_soon(students[1], device, opened()) is None
        assert records._GROUP.queued >= 1
        assert LearningRecord.select().count() == 0
    join(threads)
    assert errors == [None]
    # The answer's group takes it (SQLite: queued before that group took its writes) or the flusher
    # does (PostgreSQL: that group was taken at BEGIN).
    wait_for(lambda: LearningRecord.select().count() == 2)
    assert sorted(r.device_sequence for r in LearningRecord.select()) == [1, 2]


def test_records_no_thread_waits_for_are_led_by_the_flusher_and_a_waiting_writer_still_gets_its_own(students):
    # One write a group: after the first group, only writes whose threads went on are at the head of
    # the queue, and the one waiting answer is beyond the next group's reach.
    group = db.GroupCommit(records._store, records._store_one, limit=1)
    device = new_device_id()

    def pending(student, interaction):
        return records._pending(student, device, interaction, None, None, None)

    with write_lock_held_elsewhere(group) as leader_waits:
        threads, results, errors = in_threads([lambda: group.run(pending(students[0], answer()))])
        wait_for(leader_waits)
        for node_id in ("n1", "n2"):
            assert group.run(pending(students[1], opened(node_id)), wait=False) is None
        queued = group.queued
        waiting, waiting_results, waiting_errors = in_threads([lambda: group.run(pending(students[2], answer()))])
        wait_for(lambda: group.queued == queued + 1)
    join(threads + waiting)
    assert errors == waiting_errors == [None]
    stored = {r.uuid: r for r in LearningRecord.select()}
    assert len(stored) == 4
    answered, new = waiting_results[0]
    assert new and stored[answered["uuid"]].user_id == students[2].id  # what it got back is what was stored
    assert sorted(r.node_id for r in stored.values() if r.verb == "opened") == ["n1", "n2"]
    assert "group-commit-flusher" in {thread.name for thread in threading.enumerate()}


@pytest.mark.parametrize("db_app", ["sqlite"], indirect=True)  # another SQLite file is opened
def test_records_queued_for_one_database_are_stored_there_before_another_is_opened(students, tmp_path):
    # The test suite opens a school per test in one process: a page view queued for one school must
    # not be stored by a later group in the next school's database.
    group = db.GroupCommit(records._store, records._store_one, limit=1)
    device, first = new_device_id(), database.obj.database
    pending = [records._pending(student, device, interaction, None, None, None)
               for student, interaction in ((students[0], answer()), (students[1], opened()))]
    with write_lock_held_elsewhere(group) as leader_waits:
        threads, _, errors = in_threads([lambda: group.run(pending[0])])
        wait_for(leader_waits)
        assert group.run(pending[1], wait=False) is None  # beyond the leader's group (limit 1)
        opening, _, opening_errors = in_threads([lambda: db.open_database(f"sqlite:///{tmp_path / 'next.sqlite3'}")])
    join(threads + opening)
    assert errors == opening_errors == [None]
    assert database.obj.database == str(tmp_path / "next.sqlite3")
    with sqlite3.connect(first) as school:
        assert sorted(row[0] for row in school.execute("SELECT verb FROM learning_record")) == ["answered", "opened"]
    db.open_database(f"sqlite:///{first}")


# Writes queued, not yet stored, when the server is told to stop (SIGTERM): it stores them first.
STOP_PROBE = """
import socket, sys, threading
from pathlib import Path
from classroom_server import create_app, migrations, serving
from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.learn import records
from classroom_server.learn.records import Interaction, new_device_id
from classroom_server.settings import load_settings
app = create_app(load_settings(data_dir=Path(sys.argv[1]), environ={}))
database.connect(reuse_if_open=True)
migrations.migrate(database.obj)
with app.app_context():
    student = accounts.create_user(None, "Student", "student")
device = new_device_id()
print("ready", flush=True)
sys.stdin.readline()  # the test holds the write lock now
answer = Interaction(verb="answered", pack_id="p", node_id="n", node_kind="exercise", language="kk",
                     item_id="q1", correct=True)
# A daemon thread, as waitress's request threads are: it ends with the process.
threading.Thread(target=records.store, args=(student, device, answer), daemon=True).start()
while records._GROUP.queued == 0:
    pass
for n in range(3):
    records.store_soon(student, device, Interaction(verb="opened", pack_id="p", node_id=f"n{n}",
                                                    node_kind="lesson", language="kk"))
sock = socket.create_server(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
serving.run_until_stopped(serving.make_server(app, sock, 2, 1024))
"""


@pytest.mark.slow  # a server process stopped while its writes wait for the lock
def test_a_server_told_to_stop_stores_the_records_still_queued_first(tmp_path):
    data = tmp_path / "school"
    probe = subprocess.Popen([sys.executable, "-c", STOP_PROBE, str(data)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert probe.stdout.readline().strip() == "ready"
        holder = sqlite3.connect(data / "classroom.sqlite3", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        probe.stdin.write("go\n")
        probe.stdin.flush()
        port = int(probe.stdout.readline())
        # It answers: it is serving, and so listening for SIGTERM.
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        probe.send_signal(signal.SIGTERM)

        def closed() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False

        wait_for(closed)  # the server stopped serving; its queued writes wait for the lock
        assert probe.poll() is None
        holder.execute("COMMIT")
        holder.close()
        assert probe.wait(timeout=30) == 0
    finally:
        if probe.poll() is None:
            probe.kill()
    stored = sqlite3.connect(data / "classroom.sqlite3").execute(
        "SELECT verb, node_id FROM learning_record ORDER BY node_id").fetchall()
    assert stored == [("answered", "n"), ("opened", "n0"), ("opened", "n1"), ("opened", "n2")]


# A school's writes, in a process of its own: the nice value of the writing thread before, inside
# and after its write transaction, and whether the write was stored.
PRIORITY_PROBE = """
import json, os, sys, threading
from pathlib import Path
from classroom_server import create_app
from classroom_server.db import database, run_sql, write_transaction
from classroom_server.settings import load_settings
create_app(load_settings(data_dir=Path(sys.argv[1]), environ={}))
database.connect(reuse_if_open=True)
run_sql("CREATE TABLE note (body TEXT)")
thread = threading.get_native_id()
seen = [os.getpriority(os.PRIO_PROCESS, thread)]
with write_transaction():
    run_sql("INSERT INTO note VALUES ('kept')")
    seen.append(os.getpriority(os.PRIO_PROCESS, thread))
seen.append(os.getpriority(os.PRIO_PROCESS, thread))
with write_transaction():  # a process refused once does not ask again, and still writes
    run_sql("INSERT INTO note VALUES ('kept')")
print(json.dumps({"nice": seen, "stored": run_sql("SELECT COUNT(*) FROM note").fetchone()[0]}))
"""


def _priority_probe(data_dir, *before: str) -> dict:
    done = subprocess.run([*before, sys.executable, "-c", PRIORITY_PROBE, str(data_dir)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _may_lower_nice() -> bool:
    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20 - db.writer_priority.NICE


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are Linux's")
def test_the_thread_holding_the_write_lock_runs_at_a_higher_priority_until_it_lets_go(tmp_path):
    # Each worker's threads share one CPU: the writer runs first when it wakes, so every waiting
    # writer gets the lock sooner (docs/BENCHMARKS.md). Allowed here: lowered inside, given back after.
    if not _may_lower_nice():
        pytest.skip("this process may not lower a nice value (neither root nor RLIMIT_NICE)")
    found = _priority_probe(tmp_path / "school")
    assert found == {"nice": [0, db.writer_priority.NICE, 0], "stored": 2}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are Linux's")
def test_a_server_not_allowed_a_higher_priority_writes_as_before(tmp_path):
    # As a user running the demo, or a unit without LimitNICE: nothing changes, and nothing fails.
    if not _may_lower_nice():
        found = _priority_probe(tmp_path / "school")
    elif shutil.which("setpriv") and resource.getrlimit(resource.RLIMIT_NICE)[0] < 20 - db.writer_priority.NICE:
        # Root, without the capability that lets it lower a nice value (util-linux's setpriv).
        found = _priority_probe(tmp_path / "school", "setpriv", "--bounding-set=-sys_nice")
    else:
        pytest.skip("no way here to run a process that is refused a higher priority")
    assert found == {"nice": [0, 0, 0], "stored": 2}
