"""`[database] read_url`: the dashboard and reports read from a real streaming standby, writes go to the
primary; a standby that lags or is down is read around, and pages say where their data came from.

The test makes its own primary and standby (initdb + pg_basebackup -R of the machine's PostgreSQL,
tests/pgcluster.py) on free loopback ports, and runs the real hub on waitress against them.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from sync.hub import services
from sync.hub.cli import main as hub_cli
from sync.hub.db import database
from tests import pgcluster
from tests.hubreplica import TOKEN, wait_until
from tests.hubreplica import cluster, hub  # noqa: F401  (fixtures)
from tests.hubtesting import Agent, Hub, http, make_records

pytestmark = pytest.mark.skipif(pgcluster.available() is not None, reason=str(pgcluster.available()))


def dashboard_json(hub: Hub) -> dict:
    response = http().get(f"{hub.url}/dashboard.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def dashboard_page(hub: Hub) -> str:
    response = http().get(f"{hub.url}/dashboard", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    return " ".join(response.text.split())


def school_ids(data: dict) -> set[str]:
    return {s["school_id"] for s in data["schools"]}


def test_reads_go_to_the_replica_and_say_how_fresh_they_are(hub, cluster):
    first, _ = services.enrol_school("Replicated school", "North")
    cluster.wait_for_standby()
    data = dashboard_json(hub)
    assert data["read_from"] == {"database": "replica", "lag_seconds": 0.0, "note": None}
    assert first.id in school_ids(data)
    assert "read from the replica, up to date" in dashboard_page(hub)

    cluster.sql("standby", "SELECT pg_wal_replay_pause()")
    try:
        school, secret = services.enrol_school("Written while the replica lags", "North")
        agent = Agent(hub, school.id, secret)
        assert agent.send(make_records(school.id, range(1, 21))).json()["acked"] == 20  # writes: the primary
        wait_until(lambda: cluster.sql("standby", "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")[0][0],
                   "the standby to receive what it does not replay")
        lagging = wait_until(lambda: (d := dashboard_json(hub))["read_from"]["lag_seconds"] >= 1 and d,
                             "the replica's lag to show")
        assert lagging["read_from"]["database"] == "replica" and school.id not in school_ids(lagging)
        assert "s behind the primary" in dashboard_page(hub)

        database.max_lag = 0.5  # [database] read_max_lag: too far behind, read from the primary
        fallback = dashboard_json(hub)
        assert fallback["read_from"]["database"] == "primary" and school.id in school_ids(fallback)
        assert "behind the primary (more than [database] read_max_lag" in fallback["read_from"]["note"]
        assert "Note: the replica is" in dashboard_page(hub)
    finally:
        database.max_lag = 300.0
        cluster.sql("standby", "SELECT pg_wal_replay_resume()")
    cluster.wait_for_standby()
    caught_up = dashboard_json(hub)
    assert caught_up["read_from"]["database"] == "replica" and school.id in school_ids(caught_up)


def test_a_replica_that_is_down_is_read_around(hub, cluster):
    services.enrol_school("Before the replica stopped", "South")
    cluster.wait_for_standby()
    assert dashboard_json(hub)["read_from"]["database"] == "replica"
    cluster.stop_standby()
    try:
        school, secret = services.enrol_school("While the replica is down", "South")
        data = dashboard_json(hub)
        assert data["read_from"]["database"] == "primary" and school.id in school_ids(data)
        assert "the replica is unavailable" in data["read_from"]["note"]
        assert "Note: the replica is unavailable" in dashboard_page(hub)
        assert Agent(hub, school.id, secret).send(make_records(school.id, [1, 2])).json()["acked"] == 2
        report = CliRunner().invoke(hub_cli, ["report", "--json"], env=hub.env)
        assert report.exit_code == 0 and school.id in report.stdout
        assert "note: the replica is unavailable" in report.stderr
    finally:
        cluster.start_standby()
    cluster.wait_for_standby()
    database._replica_down_until = 0.0  # instead of waiting REPLICA_RETRY_SECONDS for the next try
    assert dashboard_json(hub)["read_from"]["database"] == "replica"
