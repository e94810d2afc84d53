"""Early warnings with their reason and evidence, per operator scope, and the weekly digest command,
on the real hub on loopback (the learning tests' schools, register and statements)."""
from __future__ import annotations

import datetime
import subprocess

import pytest

from sync.hub import alerts, operators
from sync.hub.models import AlertSnapshot, Operator, utcnow
from tests.hubprocess import console_script
from tests.hubtesting import hub_database_url  # noqa: F401  (fixtures)
from tests.hubworld import KHROMTAU, NEXT_MONTH, THIS_MONTH, base_env, sign_in
from tests.hubworld import hub, sent, troubles, world  # noqa: F401  (fixtures)


def kinds(found, area=None) -> set[tuple[str, str]]:
    return {(a.kind, a.area) for a in found if area is None or a.area == area}


def test_each_warning_with_its_evidence(hub, world, troubles):
    ids = troubles
    found = alerts.for_scope(operators.Scope("ministry"),
                             today=(NEXT_MONTH + datetime.timedelta(days=32)).replace(day=1))
    by = {(a.kind, a.area): a.evidence for a in found}
    assert by[("silent", f"s:{ids['khr']}")] == {"last_contact": None, "days_silent": None}
    assert by[("broken_sync", f"s:{ids['kar2']}")]["held_beyond_gap"] == 1
    assert by[("mastery_stalled", f"s:{ids['khr']}")] == {
        "months": [THIS_MONTH.isoformat()[:7], NEXT_MONTH.isoformat()[:7]], "school_percent": [70.0, 65.0],
        "district_percent": [60.0, 70.0], "students": 8}
    # the months before: no stall called where there is nothing to compare
    assert not {k for k in kinds(alerts.for_scope(operators.Scope("ministry"))) if k[0] == "mastery_stalled"}


def test_activity_stalls_and_skills_far_below(hub, world, troubles):
    ids = troubles
    found = alerts.for_scope(operators.Scope("ministry"))
    by = {(a.kind, a.area): a.evidence for a in found}
    stalled = by[("activity_stalled", f"s:{ids['kar1']}")]
    assert (stalled["records_before"], stalled["records_last"], stalled["change_percent"],
            stalled["district_change_percent"]) == (200, 20, -90, 20)
    assert ("activity_stalled", f"s:{ids['kar2']}") not in by
    skill = by[("skill_far_below", KHROMTAU)]
    assert skill["skill"] == "fractions.add" and skill["percent"] == 30.0 and skill["students"] == 8
    assert skill["country_percent"] > 45


@pytest.mark.parametrize("username, expected, never", [
    ("kargaly", {("activity_stalled", "kar1"), ("broken_sync", "kar2")}, {"khr", "ind", "unreg"}),
    ("director", {("activity_stalled", "kar1")}, {"kar2", "khr", "ind", "unreg"}),
    ("aktobe", {("activity_stalled", "kar1"), ("broken_sync", "kar2"), ("silent", "khr"), ("silent", "unreg"),
                ("skill_far_below", KHROMTAU)}, {"ind"}),
    ("atyrau", set(), {"kar1", "kar2", "khr", "unreg"})])
def test_warnings_stay_in_scope(hub, world, troubles, username, expected, never):
    ids = troubles
    session = sign_in(hub, username)
    answer = session.get(hub.url + "/ops/warnings.json", timeout=30)
    assert answer.status_code == 200
    got = {(w["kind"], w["area"]) for w in answer.json()["warnings"]}
    want = {(kind, where if where.startswith("d:") else f"s:{ids[where]}") for kind, where in expected}
    assert want <= got
    assert not {area for _, area in got} & {f"s:{ids[k]}" for k in never}
    page = session.get(hub.url + "/ops/warnings", timeout=30)
    assert page.status_code == 200 and all(ids[k] not in page.text for k in never)


def test_the_pages_read_the_last_pass(hub, world, troubles):
    session = sign_in(hub, "kargaly")
    before = session.get(hub.url + "/ops/warnings.json", timeout=30).json()
    assert before["computed_at"] and before["warnings"]
    AlertSnapshot.delete().execute()
    session.cookies.set("hub_lang", "en")
    assert "has not run" in session.get(hub.url + "/ops/warnings", timeout=30).text
    assert session.get(hub.url + "/ops/warnings.json", timeout=30).json() == {"computed_at": None, "warnings": []}
    alerts.save_snapshot()
    assert session.get(hub.url + "/ops/warnings.json", timeout=30).json()["warnings"] == before["warnings"]


def test_the_weekly_digest(hub, world, troubles, tmp_path):
    Operator.update(language="ru").where(Operator.username == "kargaly").execute()
    done = subprocess.run([console_script("classroom-hub"), "digest", "--out", str(tmp_path), "--user", "kargaly",
                           "--user", "atyrau"], env={**base_env(), **hub.env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    year, week, _ = utcnow().date().isocalendar()
    kargaly = (tmp_path / f"kargaly-{year}-W{week:02d}.txt").read_text(encoding="utf-8")
    assert kargaly.startswith("Недельная сводка для kargaly (район)")
    assert "Kargaly 1: 20 записей за последние 14 дн. против 200" in kargaly
    assert "Kargaly 2: больше суток лежат 1 записей" in kargaly
    assert "Khromtau" not in kargaly and "Inder" not in kargaly
    atyrau = (tmp_path / f"atyrau-{year}-W{week:02d}.txt").read_text(encoding="utf-8")
    assert "Kargaly" not in atyrau
    wrong = subprocess.run([console_script("classroom-hub"), "digest", "--out", str(tmp_path), "--user", "nobody"],
                           env={**base_env(), **hub.env}, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "no operator nobody" in wrong.stderr
