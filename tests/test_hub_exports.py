"""Exports of the operator pages as Excel workbooks beside the CSV (same scope, same hidden cells,
numbers as numbers, dates as dates, sheet names in the operator's language), read back with openpyxl;
and complementary suppression: in every exported table, no hidden cell is the shown total minus the
shown parts. On the real hub on loopback, with the learning tests' schools and statements."""
from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict

import openpyxl
import pytest

from sync.hub import learning
from sync.hub.models import AreaCell
from tests.hubtesting import hub_database_url  # noqa: F401  (fixtures)
from tests.hubworld import LAST_MONTH, sign_in
from tests.hubworld import hub, sent, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow  # a real hub on loopback

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(session, hub, route: str, **params) -> openpyxl.Workbook:
    answer = session.get(hub.url + route, params=params, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["Content-Type"] == XLSX and ".xlsx" in answer.headers["Content-Disposition"]
    return openpyxl.load_workbook(io.BytesIO(answer.content))


def sheet_rows(sheet) -> list[dict]:
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row)) for row in values[1:]]


@pytest.mark.parametrize("username", ["minister", "aktobe", "atyrau", "kargaly", "director"])
def test_schools_as_a_workbook_hold_what_the_csv_holds(hub, world, sent, username):
    session = sign_in(hub, username)
    session.cookies.set("hub_lang", "ru")
    book = workbook(session, hub, "/ops/schools.xlsx")
    assert book.sheetnames == ["Школы"]
    rows = sheet_rows(book["Школы"])
    text = session.get(hub.url + "/ops/schools.csv", timeout=30).content.decode("utf-8-sig")
    from_csv = list(csv.DictReader(io.StringIO(text)))
    assert {r["Идентификатор школы на хабе"] for r in rows} == world["visible"][username] == \
        {r["school_id"] for r in from_csv}
    for row in rows:
        registered = row["Идентификатор в реестре"] is not None
        assert isinstance(row["Учеников"], int) if registered else row["Учеников"] is None
        assert isinstance(row["Получено записей"], int)
        assert row["Последняя связь (UTC)"] is None or isinstance(row["Последняя связь (UTC)"], datetime.datetime)
    assert any(isinstance(row["Последняя связь (UTC)"], datetime.datetime) for row in rows)


def test_a_formula_in_a_name_stays_text_in_the_workbook(hub, world):
    from sync.hub.models import School
    School.update(name="=HYPERLINK(\"http://x\")").where(School.id == world["ids"]["unreg"]).execute()
    try:
        book = workbook(sign_in(hub, "minister"), hub, "/ops/schools.xlsx")
        sheet = book.worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row if c.value == "=HYPERLINK(\"http://x\")"]
        assert cells and all(c.data_type == "s" for c in cells)
    finally:
        School.update(name="Not in the register").where(School.id == world["ids"]["unreg"]).execute()


def test_learning_as_a_workbook_a_sheet_per_table(hub, world, sent):
    session = sign_in(hub, "kargaly")
    session.cookies.set("hub_lang", "kk")
    book = workbook(session, hub, "/ops/learning.xlsx")
    assert book.sheetnames == ["Пән және сынып бойынша", "Ай сайын", "Дағдылар", "Қатар салыстыру", "Пайдаланылған контент"]
    session.cookies.set("hub_lang", "en")
    book = workbook(session, hub, "/ops/learning.xlsx")
    assert book.sheetnames == ["By subject and grade", "Month by month", "Skills", "Side by side", "Content used"]
    months = sheet_rows(book["Month by month"])
    district = "d:Актюбинская/Каргалинский"
    shown = [r for r in months if r["Area"] == district and r["Answers"] is not None]
    assert shown and all(isinstance(r["Month"], datetime.datetime) and r["Month"].day == 1 for r in shown)
    by_month = {r["Month"].date(): r for r in shown}
    assert by_month[LAST_MONTH]["Answers"] == 60 and by_month[LAST_MONTH]["Correct answers, %"] == 50.0
    assert isinstance(by_month[LAST_MONTH]["Grade"], int)
    assert book["Month by month"]["D1"].value == "Month" and book["Month by month"].freeze_panes == "A2"
    small = f"s:{world['ids']['kar2']}"
    hidden = [r for r in sheet_rows(book["Side by side"]) if r["Area"] == small]
    assert hidden and hidden[0]["Answers"] is None and hidden[0]["Hidden"] == "fewer than 5 students"
    other = sign_in(hub, "atyrau")
    assert other.get(hub.url + "/ops/learning.xlsx", params={"area": district}, timeout=30).status_code == 404


# --- complementary suppression -----------------------------------------------------------------------

def derivable(rows: list[dict]) -> list[str]:
    """Hidden cells one could work out from an exported learning table by subtraction: a group (an area's
    parts against the area; an area's months against its period) with a shown total and exactly one
    hidden part, or a hidden total whose parts are all shown."""
    totals = {(r["area"], r["subject"], r["grade"]): r for r in rows if r["table"] == "subject"}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["table"] == "month":
            groups[("months", r["area"], r["subject"], r["grade"])].append(r)
    parts = [r for r in rows if r["table"] == "part"]
    found = []
    for (_, area, subject, grade), members in groups.items():
        found += _check(totals.get((area, subject, grade)), members, f"months of {area}")
    if parts:
        viewed = rows[0]["area"]  # the export's first row: the viewed area's first subject
        for (subject, grade) in {(r["subject"], r["grade"]) for r in parts}:
            found += _check(totals.get((viewed, subject, grade)), parts, f"parts of {viewed}")
    return found


def _hidden(row: dict | None) -> bool:
    return row is not None and row["suppressed"] != ""


def _check(total: dict | None, members: list[dict], what: str) -> list[str]:
    if total is None:
        return []
    gone = [m for m in members if _hidden(m)]
    with_data = [m for m in members if m["answers"] not in ("", None) or _hidden(m)]
    if not _hidden(total) and len(gone) == 1:
        return [f"{what}: the one hidden cell {gone[0]} is the total minus the rest"]
    if _hidden(total) and total["suppressed"] == "complement" and with_data and not gone:
        return [f"{what}: the hidden total is the sum of its shown parts"]
    return []


def export(session, hub, area: str | None = None) -> list[dict]:
    params = {"area": area} if area else {}
    text = session.get(hub.url + "/ops/learning.csv", params=params, timeout=30).content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def areas_of_scope(world, username: str) -> list[str | None]:
    ids = world["ids"]
    return {"minister": [None, "r:Актюбинская", "r:Атырауская", "d:Актюбинская/Каргалинский",
                         "d:Атырауская/Индерский"] + [f"s:{i}" for i in ids.values()],
            "aktobe": [None, "d:Актюбинская/Каргалинский", f"s:{ids['kar1']}", f"s:{ids['kar2']}"],
            "kargaly": [None, f"s:{ids['kar1']}", f"s:{ids['kar2']}"],
            "director": [None]}[username]


@pytest.mark.parametrize("username", ["minister", "aktobe", "kargaly", "director"])
def test_no_hidden_cell_can_be_worked_out_from_the_totals(hub, world, sent, username):
    session = sign_in(hub, username)
    session.cookies.set("hub_lang", "en")
    problems = []
    sheets = {"subject": "By subject and grade", "month": "Month by month", "skill": "Skills", "part": "Side by side",
              "pack": "Content used"}
    for area in areas_of_scope(world, username):
        rows = export(session, hub, area)
        problems += [f"{area}: {p}" for p in derivable(rows)]
        # the workbook hides exactly what the CSV hides, and holds no number in a hidden row
        book = workbook(session, hub, "/ops/learning.xlsx", **({"area": area} if area else {}))
        for table, title in sheets.items():
            in_csv = sorted((r["area"], r["suppressed"] != "") for r in rows if r["table"] == table)
            in_book = sheet_rows(book[title])
            assert sorted((r["Area"], r["Hidden"] is not None) for r in in_book) == in_csv, (area, table)
            assert all(r["Answers"] is None and r["Correct answers, %"] is None and r["Students"] is None
                       for r in in_book if r["Hidden"] is not None)
    assert not problems, "\n".join(problems)


def test_a_complement_hides_the_smallest_sibling_in_every_view(hub, world, sent):
    """Kargaly 2 (3 students) is hidden; Kargaly 1 beside it and the shown district total would give it
    away, so Kargaly 1 is hidden too, in the district's export and in its own (with one of its months)."""
    kar1, kar2 = f"s:{world['ids']['kar1']}", f"s:{world['ids']['kar2']}"
    session = sign_in(hub, "kargaly")
    parts = {r["area"]: r for r in export(session, hub) if r["table"] == "part"}
    assert parts[kar2]["suppressed"] == "yes" and parts[kar1]["suppressed"] == "complement"
    assert parts[kar1]["answers"] == parts[kar1]["percent_correct"] == ""
    own = export(session, hub, kar1)
    subject = next(r for r in own if r["table"] == "subject" and r["area"] == kar1)
    assert subject["suppressed"] == "complement" and subject["answers"] == ""
    months = [r for r in own if r["table"] == "month" and r["area"] == kar1 and (r["answers"] or r["suppressed"])]
    assert sum(1 for r in months if r["suppressed"]) == 1  # the months no longer add up to the hidden total
    director = export(sign_in(hub, "director"), hub)  # the director of Kargaly 1 sees the same
    assert next(r for r in director if r["table"] == "subject" and r["area"] == kar1)["suppressed"] == "complement"


def test_no_hidden_cell_can_be_worked_out_across_pages(hub, world, sent):
    """A month of a school is also a part of its district's month, on another page: across every export
    the ministry can download, no shown month of an area has exactly one hidden month among its parts,
    and a part hidden in its parent's table is hidden on its own page too."""
    session = sign_in(hub, "minister")
    exports = {area or "c": export(session, hub, area) for area in areas_of_scope(world, "minister")}

    field = {"month": "month", "skill": "skill", "pack": "pack", "subject": "area"}

    def rows_of(area: str, table: str) -> dict:
        return {r[field[table]]: r for r in exports.get(area, []) if r["table"] == table and r["area"] == area}
    problems = []
    for parent, rows in exports.items():
        parts = [p for p in learning.members(parent) if p in exports]
        for table in ("month", "skill", "pack"):  # each also a part of its parent's, on the parent's page
            for which, total in rows_of(parent, table).items():
                cells = [rows_of(p, table).get(which) for p in parts]
                gone = [c for c in cells if c is not None and _hidden(c)]
                if not _hidden(total) and total["answers"] and len(gone) == 1:
                    problems.append(f"{gone[0]['area']} {table} {which}: {parent}'s less its other parts")
        for row in (r for r in rows if r["table"] == "part" and r["area"] in exports):
            own = rows_of(row["area"], "subject").get(row["area"])
            if own is not None and _hidden(own) != _hidden(row):
                problems.append(f"{row['area']}: hidden on one page and shown on the other")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("total_hidden, parts, hidden, expected", [
    (False, {"a": {"learners": 3, "answers": 30}, "b": {"learners": 9, "answers": 90},
             "c": {"learners": 7, "answers": 40}}, set(), {"c"}),
    (False, {"a": {"learners": 3, "answers": 30}, "b": {"learners": 2, "answers": 20},
             "c": {"learners": 7, "answers": 40}}, set(), set()),  # two hidden: neither alone
    (True, {"a": {"learners": 3, "answers": 30}, "b": {"learners": 9, "answers": 90}}, set(), set()),
    (False, {"a": {"learners": 3, "answers": 30}, "b": None, "c": {"learners": 8, "answers": 0},
             "d": {"learners": 9, "answers": 5}}, set(), {"d"}),  # no data is a known zero, never a complement
    (False, {"a": {"learners": 8, "answers": 30}, "b": {"learners": 9, "answers": 20}}, {"total"}, {"b"}),
])
def test_the_complement_rule(total_hidden, parts, hidden, expected):
    assert learning.complement(total_hidden, parts, hidden) == expected


def test_the_parts_of_an_area_are_all_its_sums(hub, world, sent):
    """The groups cover what the aggregates sum: a region's districts plus its schools outside the register."""
    ids = world["ids"]
    assert learning.members("r:Актюбинская") == ["d:Актюбинская/Каргалинский", "d:Актюбинская/Хромтауский",
                                                  f"s:{ids['unreg']}"]
    assert learning.parent_of(f"s:{ids['unreg']}") == "r:Актюбинская"
    assert learning.parent_of(f"s:{ids['kar1']}") == "d:Актюбинская/Каргалинский"
    assert AreaCell.select().where(AreaCell.area == f"s:{ids['kar1']}").exists()
