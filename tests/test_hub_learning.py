"""The learning analytics on the real hub on loopback: statements sent by signed batches, the
incremental job, mastery by subject, grade, skill and month per school / district / region / country,
scope in every route, and small-cell suppression in pages, JSON and CSV."""
from __future__ import annotations

import csv
import io
import json

import pytest

from sync.hub import analytics
from sync.hub.models import AreaCell
from tests.hubtesting import hub_database_url  # noqa: F401  (fixtures)
from tests.hubworld import LAST_MONTH, THIS_MONTH, answer, sign_in
from tests.hubworld import hub, sent, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # a real hub process


def get_json(session, hub, **params):
    answer = session.get(hub.url + "/ops/learning.json", params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_mastery_per_area_compared_with_region_and_country(hub, world, sent):
    data = get_json(sign_in(hub, "kargaly"), hub)
    district, region = "d:Актюбинская/Каргалинский", "r:Актюбинская"
    assert data["area"] == district and data["compare"] == [region, "c"]
    row = data["subjects"][0]
    assert (row["subject"], row["grade"]) == ("mathematics", 5)
    # Kargaly: 6 x 20 answers at 65 % and 3 x 10 at 30 % -> (78 + 9) / 150
    assert row["cells"][district]["percent_correct"] == 58.0 and row["cells"][district]["answers"] == 150
    assert row["cells"]["c"]["percent_correct"] == round(100 * (87 + 54) / 210, 1)
    growth = {g["month"]: g["cells"][district] for g in data["growth"]}
    assert growth[LAST_MONTH.isoformat()[:7]]["percent_correct"] == 50.0
    assert growth[THIS_MONTH.isoformat()[:7]]["percent_correct"] == round(100 * 57 / 90, 1)
    skills = {s["skill"]: s for s in data["skills"]}
    assert set(skills) == {"fractions.compare", "fractions.add"}
    assert skills["fractions.compare"]["cells"][district]["answers"] == 150  # q1 and q2 both test it
    assert skills["fractions.add"]["cells"][district]["answers"] == 75
    parts = {p["area"]: p["cell"] for p in data["children"]}
    # Kargaly 2 (3 students) is hidden, so Kargaly 1 is hidden beside it: the district's total less Kargaly 1
    # would be Kargaly 2 (complementary suppression, tests/test_hub_exports.py)
    assert parts[f"s:{world['ids']['kar1']}"]["percent_correct"] is None
    assert parts[f"s:{world['ids']['kar1']}"]["reason"] == "complement"


def test_no_cell_about_fewer_than_five_students(hub, world, sent):
    small = f"s:{world['ids']['kar2']}"
    session = sign_in(hub, "kargaly")
    data = get_json(session, hub, area=small)
    cell = data["subjects"][0]["cells"][small]
    assert cell["suppressed"] and cell["percent_correct"] is None and cell["answers"] is None \
        and cell["learners"] is None and cell["correct"] is None
    assert all(g["cells"][small] is None or g["cells"][small]["suppressed"] for g in data["growth"])
    assert all(row["suppressed"] for row in data["content"])
    assert all(row["suppressed"] for row in data["assignments"] if row["answers"] != 0)
    parent = get_json(session, hub)
    assert next(p for p in parent["children"] if p["area"] == small)["cell"]["suppressed"]
    text = session.get(hub.url + "/ops/learning.csv", params={"area": small}, timeout=30).content.decode("utf-8-sig")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["area"] == small]
    assert rows and all(r["percent_correct"] == r["answers"] == r["students"] == "" for r in rows)
    assert {r["table"] for r in rows if r["suppressed"] == "yes"} == {"subject", "month", "skill", "pack"}
    session.cookies.set("hub_lang", "ru")
    page = session.get(hub.url + "/ops/learning", params={"area": small}, timeout=30).text
    assert "меньше 5 учеников" in page and "30 %" not in page
    # the district, with 9 students, shows its numbers
    assert parent["subjects"][0]["cells"]["d:Актюбинская/Каргалинский"]["learners"] == 9


@pytest.mark.parametrize("username, area, status", [
    ("kargaly", "c", 404), ("kargaly", "r:Актюбинская", 404), ("kargaly", "r:Атырауская", 404),
    ("kargaly", "d:Актюбинская/Хромтауский", 404), ("kargaly", "s:{ind}", 404), ("kargaly", "s:{kar1}", 200),
    ("aktobe", "r:Актюбинская", 200), ("aktobe", "d:Актюбинская/Хромтауский", 200), ("aktobe", "s:{ind}", 404),
    ("aktobe", "r:Атырауская", 404), ("aktobe", "c", 404),
    ("director", "s:{kar1}", 200), ("director", "s:{kar2}", 404), ("director", "d:Актюбинская/Каргалинский", 404),
    ("minister", "c", 200), ("minister", "s:{ind}", 200), ("minister", "r:Атырауская", 200)])
@pytest.mark.parametrize("route", ["/ops/learning", "/ops/learning.json", "/ops/learning.csv"])
def test_learning_scope(hub, world, sent, username, area, status, route):
    session = sign_in(hub, username)
    answer = session.get(hub.url + route, params={"area": area.format(**world["ids"])}, timeout=30)
    assert answer.status_code == status, answer.text[:300]


def test_the_job_is_incremental_and_waits_for_gaps(hub, world, sent):
    before = {(a, d, k, str(m)): n for a, d, k, m, n in
              AreaCell.select(AreaCell.area, AreaCell.dim, AreaCell.key, AreaCell.month, AreaCell.answers).tuples()}
    assert analytics.refresh() == 0
    assert {(a, d, k, str(m)): n for a, d, k, m, n in AreaCell.select(
        AreaCell.area, AreaCell.dim, AreaCell.key, AreaCell.month, AreaCell.answers).tuples()} == before
    ind = world["ids"]["ind"]
    late = [answer(ind, 62, "p-100", "q1", True, THIS_MONTH)]
    assert sent["ind"].send(late).status_code == 200  # seq 61 missing: not acknowledged, not counted
    assert analytics.refresh() == 0
    assert sent["ind"].send([answer(ind, 61, "p-100", "q2", True, THIS_MONTH)]).status_code == 200
    assert analytics.refresh() == 2
    cell = AreaCell.get((AreaCell.area == f"s:{ind}") & (AreaCell.dim == "u") & (AreaCell.month == THIS_MONTH))
    assert (cell.answers, cell.correct, cell.learners) == (62, 56, 7)


def test_the_page_draws_its_chart_on_the_server(hub, world, sent):
    page = sign_in(hub, "aktobe").get(hub.url + "/ops/learning", timeout=30)
    assert page.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text and "<polyline" in page.text
    assert "<script" not in page.text and "http://" not in page.text.replace("http://www.w3.org/2000/svg", "").replace(
        hub.url, "")


def test_publishing_a_pack_indexes_its_items_and_reindex_does_it_again(tmp_path):
    from content_packs.builder import build_pack
    from content_packs.samples import HERE as SAMPLES
    from tests.hubprocess import HubProcess

    built = tmp_path / "math5.ckpack"
    build_pack(SAMPLES / "math5-fractions", built)
    manifest = json.loads((SAMPLES / "math5-fractions" / "pack.json").read_text(encoding="utf-8"))
    expected = {(row["node_id"], row["item_id"]): row["skills"] for row in analytics.item_rows(manifest)}
    assert expected and all(expected.values())
    with HubProcess(tmp_path / "hub") as process:
        process.cli("keys", "generate")
        process.cli("pack", "publish", str(built), "--all-schools")

        def indexed() -> dict:
            return {(node, item): sorted(json.loads(skills) if isinstance(skills, str) else skills)
                    for node, item, subject, skills in process._query(
                        "SELECT node_id, item_id, subject, skills FROM content_item WHERE pack_id = ?",
                        (manifest["id"],))}
        assert indexed() == {key: sorted(skills) for key, skills in expected.items()}
        process._query("DELETE FROM content_item", ())
        assert "item(s) of 1 release(s) indexed" in process.cli("analytics", "reindex")
        assert indexed() == {key: sorted(skills) for key, skills in expected.items()}
        assert "added 0 record(s)" in process.cli("analytics", "refresh")
