"""The record table at country scale (PostgreSQL only): monthly partitions made ahead, ingest that
recognizes a record sent again months later, retention to gzip JSON lines, and the resumable move of
an older hub's unpartitioned records.

Runs on the real hub (waitress on loopback, the `classroom-hub` CLI) in a fresh PostgreSQL schema.
"""
from __future__ import annotations

import datetime
import gzip
import hashlib
import importlib
import json
import uuid

import pytest
from click.testing import CliRunner

from sync.hub import migrations, partitions, services
from sync.hub.cli import main as hub_cli
from sync.hub.db import database, open_database
from sync.hub.models import Record, RecordArchive, School, SchoolDay, utcnow
from tests.hubtesting import PG_URL, Agent, Hub, hub_database, hub_env, hub_on_loopback, make_records

pytestmark = pytest.mark.skipif(not PG_URL, reason="partitions need PostgreSQL: set CLASSROOM_TEST_POSTGRES_URL="
                                                   "postgresql://postgres@127.0.0.1:5432/test (CI does)")


@pytest.fixture
def schema_url():
    """A fresh PostgreSQL schema for one test."""
    with hub_database("hubpart_") as url:
        yield url


@pytest.fixture
def hub(tmp_path, schema_url):
    env = hub_env(tmp_path, schema_url)
    init = CliRunner().invoke(hub_cli, ["init"], env=env, catch_exceptions=False)
    assert init.exit_code == 0, init.output
    with hub_on_loopback(tmp_path, env, migrate=False) as running:
        yield running


@pytest.fixture
def agent(hub) -> Agent:
    school, secret = services.enrol_school("Partitioned school", "Test region")
    return Agent(hub, school.id, secret)


def cli(hub: Hub, *args: str, ok: bool = True):
    result = CliRunner().invoke(hub_cli, list(args), env=hub.env, catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result


def months_ago(count: int) -> datetime.datetime:
    return partitions.add_months(partitions.month_start(utcnow()), -count) + datetime.timedelta(days=3, hours=5)


def receive_earlier(school_id: str, seqs: range, when: datetime.datetime) -> None:
    """Make records look received at `when` (PostgreSQL moves the rows to that month's partition)."""
    partitions.ensure(when, when)
    Record.update(received_at=when).where((Record.school == school_id) & Record.seq.between(seqs[0], seqs[-1])) \
        .execute()


def held(school_id: str) -> list[tuple[int, str]]:
    return [(seq, str(uid)) for seq, uid in Record.select(Record.seq, Record.uuid)
            .where(Record.school == school_id).order_by(Record.seq).tuples()]


def partition_of(school_id: str, seq: int) -> str:
    return database.execute_sql("SELECT tableoid::regclass::text FROM record WHERE school_id = %s AND seq = %s",
                                (school_id, seq)).fetchone()[0]


# --- partitions made ahead ------------------------------------------------------------------------

def test_init_makes_this_month_and_the_months_ahead(hub):
    this_month = partitions.month_start(utcnow())
    names = [p.name for p in partitions.partitions()]
    assert names == [partitions.partition_name(partitions.add_months(this_month, n)) for n in range(4)]
    assert "every partition is made already" in cli(hub, "partitions", "ensure").output
    listed = json.loads(cli(hub, "partitions", "list", "--json").output)
    assert [p["partition"] for p in listed["partitions"]] == names and listed["archived"] == []
    # A hub whose daily timer stopped still takes records: ingest makes the month it needs.
    next_month = partitions.add_months(this_month, 1)
    services.store_batch(School.create(id="sch-early", name="E", secret="s").id, make_records("sch-early", [1]))
    database.execute_sql(f"DROP TABLE {partitions.partition_name(this_month)}")  # gone behind this process's back
    school = School.create(id="sch-ahead", name="A", secret="s")
    with pytest.raises(Exception, match="no partition of relation"):  # the process thought it was there
        services.store_batch(school.id, make_records(school.id, [1]))
    services.store_batch(school.id, make_records(school.id, [1]))  # the agent's retry: made, and stored
    assert School.get_by_id(school.id).acked == 1
    assert partitions.partition_name(this_month) in [p.name for p in partitions.partitions()]
    assert partitions.partition_name(next_month) in [p.name for p in partitions.partitions()]


# --- idempotence across months --------------------------------------------------------------------

def test_a_batch_sent_again_months_later_stores_nothing_new(agent):
    records = make_records(agent.school_id, range(1, 41))
    assert agent.send(records[:20]).json() == {"acked": 20, "stored": 20, "duplicates": 0}
    assert agent.send(records[30:]).json() == {"acked": 20, "stored": 10, "duplicates": 0}  # 21-30 still missing
    receive_earlier(agent.school_id, range(1, 41), months_ago(2))
    assert partition_of(agent.school_id, 5) == partitions.partition_name(months_ago(2))
    # The same records again, now received in another month: recognized by (school, seq) in any month.
    assert agent.send(records[:20]).json() == {"acked": 20, "stored": 0, "duplicates": 20}
    assert agent.send(records[10:]).json() == {"acked": 40, "stored": 10, "duplicates": 20}
    assert held(agent.school_id) == [(r["seq"], r["uuid"]) for r in records]
    assert School.get_by_id(agent.school_id).records_received == 40


def test_a_clash_with_a_record_of_an_earlier_month_is_refused(agent):
    records = make_records(agent.school_id, range(1, 11))
    assert agent.send(records).json()["acked"] == 10
    receive_earlier(agent.school_id, range(1, 11), months_ago(1))
    reused_seq = make_records(agent.school_id, [4]) + make_records(agent.school_id, range(11, 16))
    response = agent.send(reused_seq)
    assert response.status_code == 409 and "seq 4" in response.json()["message"]
    # A statement id held at another seq: found in any month when the batch repeats held seqs (a
    # re-send); a fresh batch is checked against the month it goes into (docs/scale.md says why).
    moved = records[8:] + make_records(agent.school_id, range(11, 13)) + [{**records[6], "seq": 13}]
    response = agent.send(moved)
    assert response.status_code == 409 and f"uuid {records[6]['uuid']} is held at seq 7" in response.json()["message"]
    assert held(agent.school_id) == [(r["seq"], r["uuid"]) for r in records]


# --- retention ------------------------------------------------------------------------------------

def test_retention_exports_checks_and_drops_old_months_and_the_counts_stay(hub, agent, tmp_path):
    records = make_records(agent.school_id, range(1, 301))
    assert agent.send(records).json()["acked"] == 300
    receive_earlier(agent.school_id, range(1, 201), months_ago(3))
    old = partitions.partition_name(months_ago(3))
    counts_before = list(SchoolDay.select().where(SchoolDay.school == agent.school_id).dicts())
    hub.env["CLASSROOM_HUB_RECORDS_RETENTION_MONTHS"] = "2"
    hub.env["CLASSROOM_HUB_RECORDS_ARCHIVE_DIR"] = str(tmp_path / "archive")
    assert f"would archive {old}" in cli(hub, "partitions", "archive", "--dry-run").output
    assert old in [p.name for p in partitions.partitions()]
    output = cli(hub, "partitions", "archive").output
    assert f"archived {old}: 200 record(s)" in output

    path = tmp_path / "archive" / f"{old}.jsonl.gz"
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    by_seq = {line["seq"]: line for line in lines}
    assert sorted(by_seq) == list(range(1, 201)) and len(lines) == 200
    for record in records[:200]:
        line = by_seq[record["seq"]]
        stored = dict(line["statement"])
        authority = stored.pop("authority")  # the hub vouches for the signing school (services.claim_for_school)
        assert (line["school_id"], line["uuid"], stored) == (agent.school_id, record["uuid"], record["statement"])
        assert authority["account"]["name"] == agent.school_id
        assert line["received_at"].startswith(months_ago(3).date().isoformat())
    digest, name = (tmp_path / "archive" / f"{old}.jsonl.gz.sha256").read_text().split()
    assert name == path.name and digest == hashlib.sha256(path.read_bytes()).hexdigest()

    assert old not in [p.name for p in partitions.partitions()]
    assert database.execute_sql("SELECT to_regclass(%s)", (old,)).fetchone()[0] is None
    archived = RecordArchive.get_by_id(old)
    assert (archived.rows, archived.sha256, archived.path) == (200, digest, str(path))
    assert held(agent.school_id) == [(r["seq"], r["uuid"]) for r in records[200:]]
    assert list(SchoolDay.select().where(SchoolDay.school == agent.school_id).dicts()) == counts_before
    assert School.get_by_id(agent.school_id).records_received == 300
    # An archived record sent again is still a duplicate (its seq is at or below the ack).
    assert agent.send(records[190:210]).json() == {"acked": 300, "stored": 0, "duplicates": 20}
    assert "nothing to archive" in cli(hub, "partitions", "archive").output
    assert json.loads(cli(hub, "partitions", "list", "--json").output)["archived"][0]["rows"] == 200


def test_a_failed_check_drops_nothing(hub, agent, tmp_path):
    assert agent.send(make_records(agent.school_id, range(1, 51))).json()["acked"] == 50
    receive_earlier(agent.school_id, range(1, 51), months_ago(4))
    partition = next(p for p in partitions.partitions() if p.name == partitions.partition_name(months_ago(4)))
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / f"{partition.name}.jsonl.gz.partial").mkdir()  # the export cannot be written
    with pytest.raises(IsADirectoryError):
        partitions.archive(partition, folder)
    assert len(held(agent.school_id)) == 50 and not RecordArchive.select().exists()


# --- the move of an older hub's records ---------------------------------------------------------

def older_hub(url: str, schools: int, per_school: int) -> list[tuple[str, int, str]]:
    """A hub database as the previous version left it (migrations 0001-0004, one plain record table),
    holding records received over the last three months; returns (school, seq, uuid) of each."""
    db = open_database(url)
    with migrations.MigrationHistory.bind_ctx(db):
        db.create_tables([migrations.MigrationHistory])
        for migration in migrations.available()[:4]:
            importlib.import_module(f"sync.hub.migrations.{migration.name}").up(db)
            migrations.MigrationHistory.create(number=migration.number, name=migration.name, applied_at=utcnow())
    rows = []
    for n in range(schools):
        school_id = f"sch-old{n:03d}"
        db.execute_sql("INSERT INTO school (id, name, secret, created_at, acked, records_received, forwarded) "
                       "VALUES (%s, %s, 's', now(), %s, %s, 0)", (school_id, f"Old {n}", per_school, per_school))
        for seq in range(1, per_school + 1):
            uid = str(uuid.uuid4())
            db.execute_sql("INSERT INTO record (school_id, seq, uuid, statement, received_at) VALUES (%s, %s, %s, %s, %s)",
                           (school_id, seq, uid, json.dumps({"id": uid, "seq": seq}), months_ago(seq % 3)))
            rows.append((school_id, seq, uid))
    return rows


class Stop(Exception):
    pass


def test_the_move_of_an_older_hubs_records_stops_half_way_and_resumes(tmp_path, schema_url):
    before = older_hub(schema_url, schools=6, per_school=50)  # 300 records
    db = database.obj
    assert migrations.migrate(db) == [m.name for m in migrations.available()[4:]]  # 0005 on, with the move
    assert partitions.legacy_pending(db)
    env = {"CLASSROOM_HUB_DATA_DIR": str(tmp_path), "CLASSROOM_HUB_DATABASE_URL": schema_url}
    refused = CliRunner().invoke(hub_cli, ["report"], env=env)
    assert refused.exit_code == 1 and "run `classroom-hub init` first" in refused.output

    seen = []

    def stop_half_way(moved: int, total: int) -> None:
        seen.append(moved)
        if moved >= total // 2:
            raise Stop  # inside the chunk's transaction, as a kill would be: that chunk is undone

    with pytest.raises(Stop):
        partitions.move_legacy(db, chunk=40, progress=stop_half_way)
    committed = seen[-2]
    assert 0 < committed < 300 and database.execute_sql("SELECT count(*) FROM record").fetchone()[0] == committed
    assert partitions.legacy_pending(db)

    result = CliRunner().invoke(hub_cli, ["init"], env=env, catch_exceptions=False)  # goes on from there
    assert result.exit_code == 0, result.output
    assert f"moved {300 - committed} record(s)" in result.output
    assert not partitions.legacy_pending(db)
    after = database.execute_sql("SELECT school_id, seq, uuid::text FROM record ORDER BY school_id, seq").fetchall()
    assert [tuple(row) for row in after] == sorted(before)
    assert {p.name for p in partitions.partitions()} >= {partitions.partition_name(months_ago(n)) for n in range(3)}
    assert [s.seq_high for s in School.select().order_by(School.id)] == [50] * 6
    assert CliRunner().invoke(hub_cli, ["report"], env=env).exit_code == 0
