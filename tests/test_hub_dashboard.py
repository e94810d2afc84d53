"""The national dashboard: the real hub on loopback, schools reporting through signed batches.

On PostgreSQL (a fresh schema for this module) when CLASSROOM_TEST_POSTGRES_URL names a server,
on a SQLite file otherwise.
"""
from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

import pytest

from sync.hub import dashboard, services
from sync.hub.models import School, SchoolDay, utcnow
from tests.hubtesting import Agent, hub_env, hub_on_loopback, http, make_records
from tests.hubtesting import hub_database_url  # noqa: F401  (a module fixture)

TOKEN = "operator-token-7"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, hub_database_url):
    data_dir = tmp_path_factory.mktemp("hub")
    env = hub_env(data_dir, hub_database_url, CLASSROOM_HUB_DASHBOARD_TOKEN=TOKEN)
    with hub_on_loopback(data_dir, env) as running:
        yield running


@pytest.fixture(scope="module")
def schools(hub):
    """Three schools in two regions that sent records today, one silent for 5 days, one never heard from."""
    sent = {}
    for name, region, count in (("North one", "North", 30), ("North two", "North", 7), ("South one", "South", 12)):
        school, secret = services.enrol_school(name, region)
        agent = Agent(hub, school.id, secret)
        records = make_records(school.id, range(1, count + 1))
        for start in range(0, count, 10):
            assert agent.send(records[start:start + 10]).status_code == 200
        agent.send(records[:3])  # a repeat: duplicates are not counted again
        sent[school.id] = count
    quiet, _ = services.enrol_school("Quiet school", "South")
    five_days_ago = utcnow() - datetime.timedelta(days=5, hours=1)
    School.update(last_contact=five_days_ago, records_received=4, agent_version="1.0.0").where(
        School.id == quiet.id).execute()
    SchoolDay.insert(day=five_days_ago.date(), school=quiet.id, records=4).execute()
    never, _ = services.enrol_school("Never school", "North")
    return {"sent": sent, "quiet": quiet.id, "quiet_day": five_days_ago.date().isoformat(), "never": never.id}


def get(hub, path: str, token: str | None = TOKEN, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http().get(hub.url + path, params=params, headers=headers, timeout=30)


class Tables(HTMLParser):
    """Every <table id=...> of a page as lists of cell texts, and every <svg> tag's attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs: list[dict] = []
        self._table = self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "svg":
            self.svgs.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def body_rows(table: list[list[str]]) -> list[list[str]]:
    return table[1:]  # the header row first


def test_the_numbers_are_what_the_schools_sent(hub, schools):
    response = get(hub, "/dashboard.json")
    assert response.status_code == 200, response.text
    data = response.json()
    mine = {s["school_id"]: s for s in data["schools"] if s["school_id"] in schools["sent"]}
    today = data["days"][-1]
    assert today == utcnow().date().isoformat() and len(data["days"]) == 14
    for school_id, count in schools["sent"].items():
        row = mine[school_id]
        assert row["records_received"] == count and row["acked"] == count
        assert row["records_per_day"] == [0] * 13 + [count]
        assert row["agent_version"] == "9.9.9-test" and row["days_since_contact"] == 0
        assert row["content_versions"] is None and row["disk"] is None
    assert data["not_reported"] == ["content_versions", "disk"]
    quiet = next(s for s in data["schools"] if s["school_id"] == schools["quiet"])
    quiet_day = data["days"].index(schools["quiet_day"])  # 5 or 6 days back, by the time of day
    assert quiet["records_per_day"][quiet_day] == 4 and sum(quiet["records_per_day"]) == 4
    assert data["summary"]["records_per_day"][-1] == sum(schools["sent"].values())
    assert data["summary"]["records_per_day"][quiet_day] == 4
    histogram = {h["days_since_contact"]: h["schools"] for h in data["contact_histogram"]}
    assert histogram["under 1 day"] == 3 and histogram["3-6 days"] == 1 and histogram["never"] == 1
    assert "learner" not in response.text and "statement" not in response.text  # school-level counts only
    thirty = get(hub, "/dashboard.json", days=30).json()
    assert len(thirty["days"]) == 30 and thirty["summary"]["records_per_day"][quiet_day - 14] == 4


def test_stale_schools_follow_stale_days(hub, schools):
    stale = [s["school_id"] for s in get(hub, "/dashboard.json").json()["stale_schools"]]
    assert stale == [schools["never"], schools["quiet"]]  # never heard from first, then the longest silent
    assert [s["school_id"] for s in get(hub, "/dashboard.json", stale_days=5).json()["stale_schools"]] == \
        [schools["never"], schools["quiet"]]  # 5 days and an hour is more than 5 days
    assert [s["school_id"] for s in get(hub, "/dashboard.json", stale_days=6).json()["stale_schools"]] == \
        [schools["never"]]
    services.revoke_school(schools["never"])  # a revoked school is not expected to sync
    try:
        assert [s["school_id"] for s in get(hub, "/dashboard.json").json()["stale_schools"]] == [schools["quiet"]]
    finally:
        School.update(revoked_at=None).where(School.id == schools["never"]).execute()


def test_the_region_filter(hub, schools):
    data = get(hub, "/dashboard.json", region="South").json()
    assert data["region"] == "South" and {s["region"] for s in data["schools"]} == {"South"}
    assert data["summary"]["schools"] == 2
    south_sent = sum(count for school_id, count in schools["sent"].items()
                     if School.get_by_id(school_id).region == "South")
    assert data["summary"]["records_per_day"][-1] == south_sent == 12
    assert [s["school_id"] for s in data["stale_schools"]] == [schools["quiet"]]
    assert get(hub, "/dashboard.json", region="Nowhere").json()["summary"]["schools"] == 0
    page = Tables(get(hub, "/dashboard", region="South").text)
    assert {row[2] for row in body_rows(page.tables["schools-table"])} == {"South"}


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard.json"])
def test_the_token_is_required(hub, schools, path):
    assert get(hub, path, token=None).status_code == 401
    assert get(hub, path, token="wrong").status_code == 401
    refused = http().get(hub.url + path, params={"token": "wrong"}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert http().get(hub.url + path, params={"token": TOKEN}, timeout=30).status_code == 200
    assert get(hub, path).status_code == 200
    assert get(hub, path, stale_days="many").status_code == 400
    assert get(hub, path, days=7).status_code == 400


def test_an_empty_token_turns_the_dashboard_off(hub, schools):
    settings = hub.app.config["HUB_SETTINGS"]
    hub.app.config["HUB_SETTINGS"] = settings.replace(dashboard_token="")
    try:
        for path in ("/dashboard", "/dashboard.json"):
            response = get(hub, path, token="")
            assert response.status_code == 404 and response.json()["error"] == "disabled"
            assert get(hub, path).status_code == 404
    finally:
        hub.app.config["HUB_SETTINGS"] = settings


def test_the_page_shows_the_json_data_with_accessible_svg_and_no_script(hub, schools):
    data = get(hub, "/dashboard.json").json()
    response = get(hub, "/dashboard")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    html = response.text
    page = Tables(html)
    rows = body_rows(page.tables["schools-table"])
    assert [row[1] for row in rows] == [s["school_id"] for s in data["schools"]]
    for row, school in zip(rows, data["schools"]):
        assert row[2] == (school["region"] or "") and row[3] == school["status"]
        assert row[4] == (school["last_contact"] or "never") and row[5] == (school["agent_version"] or "")
        assert int(row[6]) == school["records_received"] and int(row[7]) == school["acked"]
        assert [int(n) for n in row[8].split()] == school["records_per_day"]
        assert row[9] == row[10] == "not reported yet"
    per_day = body_rows(page.tables["records-per-day-table"])
    assert [row[0] for row in per_day] == data["days"]
    assert [int(row[1]) for row in per_day] == data["summary"]["records_per_day"]
    contact = body_rows(page.tables["contact-table"])
    assert [(row[0], int(row[1])) for row in contact] == \
        [(h["days_since_contact"], h["schools"]) for h in data["contact_histogram"]]
    assert [row[1] for row in body_rows(page.tables["stale-table"])] == [s["school_id"] for s in data["stale_schools"]]
    assert len(page.svgs) == 2 and all(svg["role"] == "img" and svg["aria-labelledby"] for svg in page.svgs)
    for chart_id in ("records-per-day", "days-since-contact"):
        assert f'<title id="{chart_id}-title">' in html and f'<desc id="{chart_id}-desc">' in html
    assert "<script" not in html.lower() and not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "not reported yet" in html.split("<footer>")[1]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_page_lists_schools_a_hundred_at_a_time(hub, schools):
    first_new = len(get(hub, "/dashboard.json").json()["schools"])
    for number in range(dashboard.PAGE_SIZE + 5 - first_new):
        School.insert(id=f"sch-page{number:04d}", name=f"Paged {number:04d}", region="Zeta", secret="x").execute()
    data = get(hub, "/dashboard.json").json()
    assert len(data["schools"]) == dashboard.PAGE_SIZE + 5
    first = Tables(get(hub, "/dashboard").text)
    assert len(body_rows(first.tables["schools-table"])) == dashboard.PAGE_SIZE
    second_html = get(hub, "/dashboard", page=2).text
    second = body_rows(Tables(second_html).tables["schools-table"])
    assert [row[1] for row in second] == [s["school_id"] for s in data["schools"][dashboard.PAGE_SIZE:]]
    assert 'rel="prev"' in second_html and 'rel="next"' not in second_html
    with_token = http().get(hub.url + "/dashboard", params={"token": TOKEN}, timeout=30).text
    assert f"token={TOKEN}" in re.search(r'href="([^"]*)" rel="next"', with_token).group(1)


def test_the_migration_counts_the_records_already_held(tmp_path):
    import importlib

    from peewee import SqliteDatabase

    from sync.hub.db import FIELD_TYPES
    db = SqliteDatabase(str(tmp_path / "old.sqlite3"), field_types=FIELD_TYPES)
    importlib.import_module("sync.hub.migrations.0001_initial").up(db)
    held = [("a", "2025-01-01 10:00:00"), ("a", "2025-01-01 23:59:59"), ("a", "2025-01-02 00:00:01"),
            ("b", "2025-01-01 05:00:00")]
    for seq, (school_id, received_at) in enumerate(held):
        db.execute_sql("INSERT INTO record (school_id, seq, uuid, statement, received_at) VALUES (?, ?, ?, '{}', ?)",
                       (school_id, seq, f"00000000-0000-0000-0000-{seq:012d}", received_at))
    importlib.import_module("sync.hub.migrations.0002_school_day").up(db)
    assert sorted(db.execute_sql("SELECT day, school_id, records FROM school_day").fetchall()) == \
        [("2025-01-01", "a", 2), ("2025-01-01", "b", 1), ("2025-01-02", "a", 1)]
