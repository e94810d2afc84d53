"""The national hub: the real hub under waitress on loopback, signed requests, batches, acks, CLI.

On PostgreSQL (a fresh schema for this module) when CLASSROOM_TEST_POSTGRES_URL names a server,
as CI does; on a SQLite file otherwise.
"""
from __future__ import annotations

import datetime
import gzip
import json
import os
import re
import subprocess
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from sync import protocol
from sync.hub import migrations, partitions, services
from sync.hub.cli import main as hub_cli
from sync.hub.models import MODELS, Nonce, Record, School, utcnow
from sync.hub.settings import OPTIONS, load_settings
from tests.hubtesting import PG_URL, PLATFORM, Agent, Hub, hub_env, hub_on_loopback, http, make_records, statement_for
from tests.hubtesting import hub_database_url  # noqa: F401  (a module fixture)
from tests.pgtesting import throwaway_schema

REPO = Path(__file__).resolve().parent.parent


# --- the hub on loopback ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory, hub_database_url):
    data_dir = tmp_path_factory.mktemp("hub")
    with hub_on_loopback(data_dir, hub_env(data_dir, hub_database_url)) as running:
        yield running


@pytest.fixture
def agent(hub) -> Agent:
    """A newly enrolled school (each test its own, on the module's hub)."""
    school, secret = services.enrol_school("Test school", "Test region")
    return Agent(hub, school.id, secret)


def held(school_id: str) -> list[tuple[int, str]]:
    return [(seq, str(uid)) for seq, uid in
            Record.select(Record.seq, Record.uuid).where(Record.school == school_id).order_by(Record.seq).tuples()]


def school_row(school_id: str) -> School:
    return School.get_by_id(school_id)


def error_of(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert body["message"], body
    return body["error"]


# --- the protocol's service endpoints -------------------------------------------------------------

def test_ping_is_unsigned_and_cheap(hub):
    before = time.time()
    response = http().get(hub.url + "/api/v1/ping", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["protocol"] == 1 and body["hub"] == "classroom-hub"
    assert int(before) - 1 <= body["time"] <= time.time() + 1


def test_healthz(hub):
    from sync import __version__
    response = http().get(hub.url + "/healthz", timeout=10)
    assert response.status_code == 200
    newest = migrations.available()[-1].number
    assert response.json() == {"status": "ok", "version": __version__, "database": {"ok": True, "schema": newest}}


def test_unknown_paths_answer_json(hub):
    response = http().get(hub.url + "/api/v1/nothing", timeout=10)
    assert response.status_code == 404 and error_of(response) == "not_found"
    response = http().put(hub.url + "/api/v1/records", timeout=10)
    assert response.status_code == 405 and error_of(response) == "method_not_allowed"
    assert "POST" in response.headers["Allow"].replace(" ", "").split(",")  # RFC 9110 15.5.6


def test_every_route_is_in_the_openapi_document_and_back(hub):
    document = json.loads((REPO / "sync" / "openapi.json").read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.0")
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    # Flask writes a path parameter <sha256> (or <converter:name>); OpenAPI writes {sha256}.
    served = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
              for rule in hub.app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == described
    assert http().get(hub.url + "/api/v1/openapi.json", timeout=10).json() == document


def test_cursor_is_signed_and_records_the_contact(agent):
    response = agent.cursor()
    assert response.status_code == 200 and response.json() == {"acked": 0}
    row = school_row(agent.school_id)
    assert row.agent_version == "9.9.9-test" and row.last_contact is not None


# --- authentication -------------------------------------------------------------------------------

def test_a_signed_batch_is_stored_and_acked(agent):
    records = make_records(agent.school_id, range(1, 51))
    response = agent.send(records)
    assert response.status_code == 200, response.text
    assert response.json() == {"acked": 50, "stored": 50, "duplicates": 0}
    assert held(agent.school_id) == [(r["seq"], r["uuid"]) for r in records]
    stored = Record.get((Record.school == agent.school_id) & (Record.seq == 7)).statement
    # As sent, with the hub's word for who asserts it: the school that signed the batch.
    assert stored == {**records[6]["statement"], "authority": authority_of(agent.school_id)}
    assert agent.cursor().json() == {"acked": 50}
    row = school_row(agent.school_id)
    assert (row.records_received, row.acked, row.agent_version) == (50, 50, "9.9.9-test")


def authority_of(school_id: str) -> dict:
    return {"objectType": "Agent", "account": {"homePage": f"{PLATFORM}/schools", "name": school_id}}


def naming(statement: dict, path: str, value) -> dict:
    """A copy of `statement` with the value at a dotted path (list indexes as numbers) replaced."""
    statement = json.loads(json.dumps(statement))
    *parents, last = path.split(".")
    node = statement
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return statement


@pytest.mark.parametrize("path, value", [
    ("actor.account.homePage", f"{PLATFORM}/schools/sch-other2"),
    ("actor.account.homePage", "https://elsewhere.example"),
    ("context.contextActivities.grouping.1.id", f"{PLATFORM}/schools/sch-other2/classes/5A"),
    ("context.instructor", {"objectType": "Agent", "account": {"homePage": f"{PLATFORM}/schools/sch-other2",
                                                               "name": "t-1"}}),
])
def test_a_statement_naming_another_school_is_refused_whole(agent, path, value):
    records = make_records(agent.school_id, [1, 2, 3])
    records[1]["statement"] = naming(records[1]["statement"], path, value)
    response = agent.send(records)
    assert response.status_code == 403 and error_of(response) == "foreign_statement"
    message = response.json()["message"]
    assert "records[1] (seq 2" in message and agent.school_id in message and "Nothing of this batch" in message
    assert held(agent.school_id) == [] and agent.cursor().json() == {"acked": 0}


def test_the_hub_vouches_for_the_signing_school_whatever_the_statement_claimed(agent):
    records = make_records(agent.school_id, [1, 2])
    records[0]["statement"]["authority"] = {"objectType": "Agent", "mbox": "mailto:minister@example.kz"}
    # A learner's own words may say anything: only the places that name schools are checked.
    records[1]["statement"]["result"] = {"response": f"see {PLATFORM}/schools/sch-other2"}
    response = agent.send(records)
    assert response.status_code == 200, response.text
    stored = dict(Record.select(Record.seq, Record.statement).where(Record.school == agent.school_id).tuples())
    assert stored[1]["authority"] == stored[2]["authority"] == authority_of(agent.school_id)


@pytest.mark.parametrize("change, code", [
    ({"signed": False}, "unsigned"),
    ({"secret": "not-the-secret"}, "bad_signature"),
    ({"now": time.time() - protocol.CLOCK_SKEW_SECONDS - 60}, "stale_timestamp"),
    ({"now": time.time() + 3600}, "stale_timestamp"),
    ({"school_id": "sch-nobody"}, "unknown_school"),
    ({"headers": {"X-Classroom-Nonce": "not-hex"}}, "bad_signature"),
])
def test_unauthenticated_batches_are_refused_and_store_nothing(agent, change, code):
    response = agent.send(make_records(agent.school_id, [1, 2]), **change)
    assert response.status_code == 401 and error_of(response) == code
    assert held(agent.school_id) == []
    assert agent.cursor(**change).status_code == 401


def test_a_body_changed_after_signing_is_refused(agent):
    body = protocol.encode_batch(agent.school_id, "1", make_records(agent.school_id, [1]))
    headers = protocol.sign_request(agent.school_id, agent.secret, "POST", "/api/v1/records", body)
    other = protocol.encode_batch(agent.school_id, "1", make_records(agent.school_id, [1]))
    response = agent.request("POST", "/api/v1/records", other, signed=False, headers=headers)
    assert response.status_code == 401 and error_of(response) == "bad_signature"
    response = agent.request("POST", "/api/v1/records?x=1", body, signed=False, headers=headers)
    assert response.status_code == 401 and error_of(response) == "bad_signature"
    assert held(agent.school_id) == []


def test_a_replayed_request_is_refused(agent):
    body = protocol.encode_batch(agent.school_id, "1", make_records(agent.school_id, [1, 2]))
    headers = protocol.sign_request(agent.school_id, agent.secret, "POST", "/api/v1/records", body)
    first = agent.request("POST", "/api/v1/records", body, signed=False, headers=headers)
    assert first.status_code == 200
    again = agent.request("POST", "/api/v1/records", body, signed=False, headers=headers)
    assert again.status_code == 401 and error_of(again) == "replayed"
    get = protocol.sign_request(agent.school_id, agent.secret, "GET", "/api/v1/records/cursor", b"")
    assert agent.cursor(signed=False, headers=get).status_code == 200
    assert agent.cursor(signed=False, headers=get).status_code == 401


def test_old_nonces_are_pruned(agent):
    old = utcnow() - datetime.timedelta(seconds=protocol.NONCE_TTL_SECONDS + 10)
    Nonce.insert(school=agent.school_id, nonce="a" * 32, seen_at=old).execute()
    services._next_prune[0] = 0.0
    assert agent.cursor().status_code == 200
    assert not Nonce.select().where(Nonce.seen_at < old + datetime.timedelta(seconds=1)).exists()
    assert Nonce.select().where(Nonce.school == agent.school_id).count() == 1


def test_a_revoked_school_is_refused_but_keeps_its_records(agent):
    assert agent.send(make_records(agent.school_id, [1])).status_code == 200
    services.revoke_school(agent.school_id)
    response = agent.send(make_records(agent.school_id, [2]))
    assert response.status_code == 401 and error_of(response) == "revoked"
    assert agent.cursor().status_code == 401
    assert [seq for seq, _ in held(agent.school_id)] == [1]


def test_a_school_cannot_send_another_schools_batch(hub, agent):
    other, _ = services.enrol_school("Other school")
    response = agent.send(make_records(other.id, [1, 2]), batch_school=other.id)
    assert response.status_code == 403 and error_of(response) == "wrong_school"
    assert held(other.id) == [] and held(agent.school_id) == []


# --- bad bodies -----------------------------------------------------------------------------------

def test_an_oversized_body_is_refused_with_413(agent):
    body = os.urandom(protocol.MAX_BODY_BYTES + 1)
    response = agent.request("POST", "/api/v1/records", body)
    assert response.status_code == 413 and error_of(response) == "too_large"
    assert held(agent.school_id) == []


def test_a_gzip_bomb_is_refused_quickly(agent):
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1 << 20)
    bomb = b"".join([packer.compress(b"{")] + [packer.compress(chunk) for _ in range(80)] + [packer.flush()])
    assert len(bomb) < 200_000
    started = time.perf_counter()
    response = agent.request("POST", "/api/v1/records", bomb)
    assert response.status_code == 400 and error_of(response) == "bad_batch"
    assert "inflates beyond" in response.json()["message"]
    assert time.perf_counter() - started < 10
    assert held(agent.school_id) == []


@pytest.mark.parametrize("raw, gzipped, headers, message", [
    (b"{not json", True, {}, "not UTF-8 JSON"),
    (b'{"records": []}', False, {}, "not gzip"),
    (b'{"records": []}', False, {"Content-Encoding": "identity"}, "Content-Encoding: gzip"),
    (b'{"school_id": "SELF", "agent_version": "1", "records": [{"seq": 1}]}', True, {}, "records[0].uuid"),
])
def test_malformed_batches_are_refused_with_400(agent, raw, gzipped, headers, message):
    raw = raw.replace(b"SELF", agent.school_id.encode())
    body = gzip.compress(raw) if gzipped else raw
    response = agent.request("POST", "/api/v1/records", body, headers=headers)
    assert response.status_code == 400 and error_of(response) == "bad_batch"
    assert message in response.json()["message"]
    assert held(agent.school_id) == []


def test_too_many_records_in_one_batch(agent):
    records = [{"seq": n, "uuid": str(uuid.UUID(int=n)),
                "statement": {"id": str(uuid.UUID(int=n)), "actor": {}, "verb": {}, "object": {}}}
               for n in range(1, protocol.MAX_RECORDS_PER_BATCH + 2)]
    response = agent.send(records)
    assert response.status_code == 400 and "at most 5000" in response.json()["message"]


# --- idempotence, order and the ack ---------------------------------------------------------------

def test_a_repeated_batch_stores_nothing_new(agent):
    records = make_records(agent.school_id, range(1, 101))
    assert agent.send(records).json() == {"acked": 100, "stored": 100, "duplicates": 0}
    assert agent.send(records).json() == {"acked": 100, "stored": 0, "duplicates": 100}
    more = make_records(agent.school_id, range(101, 121))
    assert agent.send(records[50:] + more).json() == {"acked": 120, "stored": 20, "duplicates": 50}
    assert len(held(agent.school_id)) == 120
    assert school_row(agent.school_id).records_received == 120


def test_out_of_order_batches_and_the_ack(agent):
    records = make_records(agent.school_id, range(1, 301))
    assert agent.send(records[100:200]).json() == {"acked": 0, "stored": 100, "duplicates": 0}
    assert agent.send(records[250:260]).json()["acked"] == 0
    assert agent.send(records[:100]).json()["acked"] == 200
    assert agent.send(records[200:250]).json()["acked"] == 260
    assert agent.cursor().json() == {"acked": 260}
    assert agent.send(records[260:]).json()["acked"] == 300
    assert school_row(agent.school_id).acked == 300 and len(held(agent.school_id)) == 300


def test_concurrent_batches_of_one_school_end_with_the_right_ack(agent):
    records = make_records(agent.school_id, range(1, 401))
    batches = [records[i:i + 40] for i in range(0, 400, 40)][::-1]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda batch: agent.send(batch), batches))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sum(a.json()["stored"] for a in answers) == 400
    assert agent.cursor().json() == {"acked": 400}
    assert len(held(agent.school_id)) == 400


def test_a_seq_clash_is_a_409_and_stores_nothing_of_the_batch(agent):
    records = make_records(agent.school_id, range(1, 11))
    assert agent.send(records).json()["acked"] == 10
    reused_seq = make_records(agent.school_id, [5]) + make_records(agent.school_id, range(11, 21))
    response = agent.send(sorted(reused_seq, key=lambda r: r["seq"]))
    assert response.status_code == 409 and error_of(response) == "seq_conflict"
    assert "seq 5" in response.json()["message"]
    moved_uuid = [{**records[2], "seq": 30, "statement": records[2]["statement"]}]
    response = agent.send(make_records(agent.school_id, range(21, 30)) + moved_uuid)
    assert response.status_code == 409 and error_of(response) == "seq_conflict"
    assert held(agent.school_id) == [(r["seq"], r["uuid"]) for r in records]
    assert school_row(agent.school_id).acked == 10 and school_row(agent.school_id).records_received == 10


def test_statements_encode_the_same_with_or_without_orjson():
    from sync.hub.services import _stdlib_dumps, statement_json
    statement = statement_for("sch-test", 3)
    statement["result"]["extensions"] = {"https://x/big": 10 ** 30, "https://x/text": 'a\\b "q"\t\n✓ Қазақ'}
    assert json.loads(statement_json(statement)) == statement == json.loads(_stdlib_dumps(statement))


def test_statement_with_a_nul_character_is_refused(agent):
    records = make_records(agent.school_id, [1])
    records[0]["statement"]["result"]["response"] = "a\x00b"
    response = agent.send(records)
    assert response.status_code == 400 and "U+0000" in response.json()["message"]


# --- schema ---------------------------------------------------------------------------------------

def schema_of(db, tables):
    return {table: sorted((c.name, c.data_type.lower(), c.null) for c in db.get_columns(table)) for table in tables} | \
        {f"{table} indexes": sorted((sorted(i.columns), i.unique) for i in db.get_indexes(table)) for table in tables}


def test_the_migrated_schema_equals_the_models(tmp_path):
    from peewee import SqliteDatabase

    from sync.hub.db import FIELD_TYPES
    migrated = SqliteDatabase(str(tmp_path / "migrated.sqlite3"), field_types=FIELD_TYPES)
    names = [migration.name for migration in migrations.available()]
    assert names[:4] == ["0001_initial", "0002_school_day", "0003_content", "0004_roster"]
    assert migrations.migrate(migrated) == names
    assert migrations.migrate(migrated) == []
    direct = SqliteDatabase(str(tmp_path / "direct.sqlite3"), field_types=FIELD_TYPES)
    with direct.bind_ctx(MODELS):
        direct.create_tables(MODELS)
    tables = [m._meta.table_name for m in MODELS]
    assert schema_of(migrated, tables) == schema_of(direct, tables)


def test_every_setting_is_documented():
    guide = (REPO / "docs" / "hub.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert option.env in guide, f"{option.env} is not in docs/hub.md"


def test_settings_from_the_environment_win_and_bad_values_say_where(tmp_path):
    from sync.hub.settings import SettingsError
    (tmp_path / "classroom-hub.ini").write_text("[server]\nport = 9000\n[forward]\nurl = http://lrs/xAPI\n")
    settings = load_settings(tmp_path, environ={"CLASSROOM_HUB_SERVER_PORT": "9100"})
    assert settings.server_port == 9100 and settings.forward_url == "http://lrs/xAPI/"
    with pytest.raises(SettingsError, match="CLASSROOM_HUB_DATABASE_URL"):
        load_settings(tmp_path, environ={"CLASSROOM_HUB_DATABASE_URL": "mysql://x"})
    (tmp_path / "classroom-hub.ini").write_text("[server]\nthreads = many\n")
    with pytest.raises(SettingsError, match=r"\[server\] threads"):
        load_settings(tmp_path, environ={})


def test_statements_are_stored_exactly_whatever_their_characters(agent):
    records = make_records(agent.school_id, [1, 2])
    tricky = 'a\\b "q" \t\n ✓ Қазақ тілі \\u00e9 \\\\'
    for record in records:
        record["statement"]["result"]["response"] = tricky
        record["statement"]["result"]["extensions"]["https://x/big"] = 10 ** 30  # beyond 64 bits
    assert agent.send(records[:1]).json()["stored"] == 1
    assert agent.send(records).json() == {"acked": 2, "stored": 1, "duplicates": 1}  # the fallback path
    for record in records:
        stored = Record.get((Record.school == agent.school_id) & (Record.seq == record["seq"])).statement
        assert stored == {**record["statement"], "authority": authority_of(agent.school_id)}
        assert stored["result"]["response"] == tricky


@pytest.mark.postgres
def test_postgresql_is_used_when_named(hub):
    from peewee import PostgresqlDatabase

    from sync.hub.db import POSTGRES_FIELD_TYPES, _postgres_params, is_postgres
    if not PG_URL:
        pytest.skip("no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test "
                    "to run the hub tests on PostgreSQL (CI does)")
    assert is_postgres()
    migrated = PostgresqlDatabase(field_types=POSTGRES_FIELD_TYPES,
                                  **_postgres_params(hub.env["CLASSROOM_HUB_DATABASE_URL"]))
    columns = {c.name: c.data_type for c in migrated.get_columns("record")}
    assert columns["statement"] == "json" and columns["uuid"] == "uuid"
    try:
        with throwaway_schema("hubdirect_") as url:
            direct = PostgresqlDatabase(field_types=POSTGRES_FIELD_TYPES, **_postgres_params(url))
            with direct.bind_ctx(MODELS):
                direct.create_tables(MODELS)
            tables = [m._meta.table_name for m in MODELS]
            expected = schema_of(direct, tables)
            # The record table is partitioned by month: its unique keys are on every partition, not on it.
            partitions.ensure_ahead(1, db=migrated)
            made = partitions.partitions(migrated)
            assert len(made) >= 2 and partitions.is_partitioned(migrated)
            for partition in made:
                assert schema_of(migrated, [partition.name])[f"{partition.name} indexes"] == expected["record indexes"]
            assert schema_of(migrated, tables) == expected | {"record indexes": []}
            direct.close()
    finally:
        migrated.close()


# --- the command line -----------------------------------------------------------------------------

def run_cli(hub: Hub, *args: str, ok: bool = True):
    result = CliRunner().invoke(hub_cli, list(args), env=hub.env, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_cli_init_school_add_list_revoke_and_report(hub, tmp_path):
    fresh = CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path / "fresh"), "init"],
                               env={"CLASSROOM_HUB_DATABASE_URL": ""})
    assert fresh.exit_code == 0, fresh.output
    assert "hub database ready" in fresh.output and (tmp_path / "fresh" / "classroom-hub.ini").exists()
    assert "quick local try" in fresh.output  # a SQLite hub says it is not for real use

    assert "hub database ready" in run_cli(hub, "init").output  # again: nothing to do, no harm
    added = run_cli(hub, "school", "add", "Школа №7", "--region", "Abai")
    school_id = re.search(r"school_id: (sch-[a-z0-9]{6})", added.output).group(1)
    secret = re.search(r"secret: (\S{43})", added.output).group(1)
    assert "shown this once" in added.output

    agent = Agent(hub, school_id, secret)
    assert agent.send(make_records(school_id, range(1, 8))).json()["acked"] == 7

    as_json = json.loads(run_cli(hub, "school", "add", "Second", "--json").output)
    assert as_json["school_id"].startswith("sch-") and len(as_json["secret"]) == 43
    secret_file = tmp_path / "secret"
    quiet = run_cli(hub, "school", "add", "Third", "--secret-file", str(secret_file))
    third = re.search(r"school_id: (sch-\w+)", quiet.output).group(1)
    written = secret_file.read_text().strip()
    assert written not in quiet.output and (secret_file.stat().st_mode & 0o777) == 0o600
    assert Agent(hub, third, written).cursor().json() == {"acked": 0}
    assert run_cli(hub, "school", "add", "Again", "--secret-file", str(secret_file), ok=False).exit_code == 1

    listed = run_cli(hub, "school", "list").output
    assert school_id in listed and "Школа №7" in listed and secret not in listed
    assert secret not in run_cli(hub, "school", "list", "--json").output

    report = {row["school_id"]: row for row in json.loads(run_cli(hub, "report", "--json").output)}
    assert report[school_id]["records_received"] == 7 and report[school_id]["acked"] == 7
    assert report[school_id]["agent_version"] == "9.9.9-test" and report[school_id]["last_contact"]
    assert report[school_id]["region"] == "Abai" and report[school_id]["status"] == "active"
    assert school_id in run_cli(hub, "report").output

    assert "revoked" in run_cli(hub, "school", "revoke", school_id).output
    assert agent.cursor().json()["error"] == "revoked"
    report = {row["school_id"]: row for row in json.loads(run_cli(hub, "report", "--json").output)}
    assert report[school_id]["status"] == "revoked" and report[school_id]["revoked_at"]
    assert report[school_id]["records_received"] == 7  # its records stay
    unknown = run_cli(hub, "school", "revoke", "sch-nobody", ok=False)
    assert unknown.exit_code == 1 and "no school" in unknown.output


def test_cli_refuses_a_database_that_was_not_initialised(tmp_path):
    result = CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path), "school", "list"],
                                env={"CLASSROOM_HUB_DATABASE_URL": ""})
    assert result.exit_code == 1 and "classroom-hub init" in result.output


def test_cli_config_init_and_show(tmp_path):
    env = {"CLASSROOM_HUB_FORWARD_PASSWORD": "s3cret", "CLASSROOM_HUB_DATABASE_URL": ""}
    written = CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path), "config", "init"], env=env)
    assert written.exit_code == 0 and (tmp_path / "classroom-hub.ini").exists()
    assert CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path), "config", "init"], env=env).exit_code == 1
    shown = CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path), "config", "show"], env=env).output
    assert "password = (set)" in shown and "s3cret" not in shown
    bad = CliRunner().invoke(hub_cli, ["--data-dir", str(tmp_path), "report"],
                             env={**env, "CLASSROOM_HUB_SERVER_THREADS": "lots"})
    assert bad.exit_code == 1 and "CLASSROOM_HUB_SERVER_THREADS" in bad.output


def test_cli_forward_needs_an_lrs(hub):
    result = run_cli(hub, "forward", ok=False)
    assert result.exit_code == 1 and "CLASSROOM_HUB_FORWARD_URL" in result.output


def test_serve_on_port_0_says_where_it_listens(hub):
    env = {**os.environ, **hub.env, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "sync.hub.cli", "serve", "--port", "0", "--threads", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.match(r"Serving on http://127\.0\.0\.1:(\d+)/$", line.strip())
        assert match, line + process.stderr.read() if process.poll() is not None else line
        port = int(match.group(1))
        assert http().get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=10).json()["protocol"] == 1
        assert http().get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert re.search(r"Serving on http://127\.0\.0\.1:\d+/  \(hub: ", process.stderr.read())
