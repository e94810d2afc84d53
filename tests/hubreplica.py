"""The real hub on a streaming primary and standby of its own (tests/pgcluster.py), with the fixtures
the replica tests share; a module imports them by name:
`from tests.hubreplica import cluster, hub  # noqa: F401  (module fixtures)`.
"""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from sync.hub.cli import main as hub_cli
from sync.hub.db import database
from tests import pgcluster
from tests.hubtesting import hub_on_loopback

TOKEN = "replica-test-token"


@pytest.fixture(scope="module")
def cluster():
    with pgcluster.Cluster() as made:
        yield made


@pytest.fixture(scope="module")
def hub(tmp_path_factory, cluster):
    data_dir = tmp_path_factory.mktemp("hub")
    env = {"CLASSROOM_HUB_DATA_DIR": str(data_dir), "CLASSROOM_HUB_DATABASE_URL": cluster.url("primary"),
           "CLASSROOM_HUB_DATABASE_READ_URL": cluster.url("standby"), "CLASSROOM_HUB_DASHBOARD_TOKEN": TOKEN}
    init = CliRunner().invoke(hub_cli, ["init"], env=env, catch_exceptions=False)
    assert init.exit_code == 0, init.output
    with hub_on_loopback(data_dir, env, migrate=False) as running:
        yield running
    if hasattr(database.obj, "close_all"):
        database.obj.close_all()
    if database.replica is not None:
        database.replica.close_all()


def wait_until(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
