"""The education department's analytics pages read from the streaming replica when [database] read_url
names one (writes and sign-ins stay on the primary), say so, and go back to the primary when it lags too
far: on a real primary and standby (tests/pgcluster.py, as tests/test_hub_replica.py)."""
from __future__ import annotations

import datetime

import pytest

from sync.hub import alerts, operators, services
from sync.hub.db import database
from sync.hub.models import AreaCell, RegisterSchool
from tests import pgcluster
from tests.hubreplica import cluster, hub  # noqa: F401  (fixtures)
from tests.hubreplica import wait_until
from tests.hubworld import PASSWORD, sign_in

pytestmark = [pytest.mark.skipif(pgcluster.available() is not None, reason=str(pgcluster.available())),
              pytest.mark.slow]  # a primary and a standby of its own

MONTH = datetime.date.today().replace(day=1)


def learning(session, hub) -> dict:
    answer = session.get(hub.url + "/ops/learning.json", params={"area": "c"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_learning_pages_read_from_the_replica(hub, cluster):
    school, _ = services.enrol_school("Replica school", "North")
    RegisterSchool.create(register_id="R-1", hub_school=school.id, name="Replica school", region="North",
                          district="Centre")
    operators.create_operator("minister", PASSWORD, "ministry", language="en")
    for area in (f"s:{school.id}", "d:North/Centre", "r:North", "c"):
        AreaCell.create(area=area, dim="u", key="mathematics\t5", month=MONTH, answers=100, correct=60, learners=8)
    alerts.save_snapshot()
    cluster.wait_for_standby()
    session = sign_in(hub, "minister")  # the session is written on the primary
    data = learning(session, hub)
    assert data["read_from"]["database"] == "replica"
    assert [(r["subject"], r["grade"]) for r in data["subjects"]] == [("mathematics", 5)]

    cluster.sql("standby", "SELECT pg_wal_replay_pause()")
    try:
        AreaCell.create(area="c", dim="u", key="physics\t7", month=MONTH, answers=50, correct=20, learners=9)
        wait_until(lambda: cluster.sql("standby", "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")[0][0],
                   "the standby to receive what it does not replay")
        lagging = wait_until(lambda: (d := learning(session, hub))["read_from"]["lag_seconds"] >= 1 and d,
                             "the replica's lag to show")
        assert lagging["read_from"]["database"] == "replica"
        assert ("physics", 7) not in [(r["subject"], r["grade"]) for r in lagging["subjects"]]
        page = session.get(hub.url + "/ops/learning", params={"area": "c"}, timeout=60).text
        assert "Read from the replica" in page and "s behind the primary" in page
        assert "Read from the replica" in session.get(hub.url + "/ops/warnings", timeout=60).text
        assert session.get(hub.url + "/ops/learning.xlsx", params={"area": "c"}, timeout=60).status_code == 200

        database.max_lag = 0.5  # [database] read_max_lag: too far behind, read from the primary
        fallback = learning(session, hub)
        assert fallback["read_from"]["database"] == "primary"
        assert ("physics", 7) in [(r["subject"], r["grade"]) for r in fallback["subjects"]]
        page = session.get(hub.url + "/ops/learning", params={"area": "c"}, timeout=60).text
        assert "Read from the primary: the replica is unavailable or too far behind." in page
    finally:
        database.max_lag = 300.0
        cluster.sql("standby", "SELECT pg_wal_replay_resume()")
    cluster.wait_for_standby()
    caught_up = learning(session, hub)
    assert caught_up["read_from"]["database"] == "replica"
    assert ("physics", 7) in [(r["subject"], r["grade"]) for r in caught_up["subjects"]]
