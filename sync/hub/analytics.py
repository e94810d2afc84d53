"""Learning analytics for the education department, kept as aggregates by an incremental job.

`refresh()` reads the records each school sent after its analytics cursor (never beyond the school's
ack, so a late batch is never skipped), and adds them to per-area monthly sums (`area_cell`): the
school, its district, its region (from the school register) and the country. Pages read only those
sums: nothing is computed from raw statements at request time.

What a statement gives: an answer (`answered` on an item IRI .../content/PACK/NODE/items/ITEM) with
its correctness (result.success); the item's subject, grade and skills come from the published
pack (`content_item`, filled at publish). "Mastery" here is the share of correct answers in a cell.
Students are counted by their school-scoped pseudonym (`learner_cell`), and no cell about fewer
than MIN_STUDENTS students is ever shown or exported (`suppressed`).
"""
from __future__ import annotations

import datetime
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from peewee import EXCLUDED, SqliteDatabase

from .db import database, is_postgres
from .models import (AnalyticsCursor, AreaCell, ContentItem, LearnerCell, LearnerWeek, Record, RegisterSchool,
                     School)

log = logging.getLogger(__name__)

MIN_STUDENTS = 5  # small-cell suppression: fewer students than this and a cell shows nothing
CHUNK = 5000
COUNTRY = "c"
COMPLETING = ("/completed", "/submit", "/experienced")
_ITEM = re.compile(r"/content/([^/]+)/([^/]+)/items/([^/?#]+)$")
_NODE = re.compile(r"/content/([^/]+)(?:/([^/?#]+))?$")
_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")
DIMS = {"s": "skill", "u": "subject and grade", "p": "pack", "a": "activity", "g": "assignment work"}


# --- what a statement says (pure) ----------------------------------------------------------------

@dataclass(frozen=True)
class Fact:
    learner: str
    month: datetime.date
    pack_id: str | None
    item: tuple[str, str, str] | None  # (pack, node, item) of an answer
    correct: bool | None
    completed: bool
    duration_ms: int
    assignment: bool
    day: datetime.date | None = None  # the statement's UTC day (weeks of work for the programmes' plans)


def duration_ms(text: Any) -> int:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        return 0
    hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return int(round((hours * 3600 + minutes * 60 + seconds) * 1000))


def fact_of(statement: dict) -> Fact | None:
    """What one xAPI statement a school made tells the analytics; None for one it cannot read."""
    try:
        learner = statement["actor"]["account"]["name"]
        month = datetime.date(int(statement["timestamp"][:4]), int(statement["timestamp"][5:7]), 1)
        day = datetime.date(month.year, month.month, int(statement["timestamp"][8:10]))
        verb = statement["verb"]["id"]
        object_id = statement["object"]["id"]
    except (KeyError, TypeError, ValueError):
        return None
    result = statement.get("result") if isinstance(statement.get("result"), dict) else {}
    context = statement.get("context") if isinstance(statement.get("context"), dict) else {}
    extensions = context.get("extensions") if isinstance(context.get("extensions"), dict) else {}
    item = _ITEM.search(object_id) if verb.endswith("/answered") else None
    node = _NODE.search(object_id)
    pack_id = item.group(1) if item else (node.group(1) if node else None)
    success = result.get("success")
    return Fact(learner=str(learner)[:64], month=month, pack_id=pack_id,
                item=(item.group(1), item.group(2), item.group(3)) if item else None,
                correct=success if isinstance(success, bool) else None,
                completed=verb.endswith(COMPLETING), duration_ms=duration_ms(result.get("duration")),
                assignment=bool(context.get("registration")) or any(k.endswith("/xapi/assignment") for k in extensions),
                day=day)


def cells_of(fact: Fact, items: dict[tuple[str, str, str], tuple[str, int, list[str]]]) -> list[tuple[str, str, dict]]:
    """(dim, key, sums) the fact adds to; sums of answers, correct, completions, time_ms."""
    out = [("a", "", {"answers": 1, "completions": int(fact.completed), "time_ms": fact.duration_ms})]
    if fact.pack_id:
        out.append(("p", fact.pack_id, {"answers": 1, "completions": int(fact.completed), "time_ms": fact.duration_ms}))
    if fact.assignment:
        out.append(("g", "", {"answers": 1, "completions": int(fact.completed)}))
    if fact.item is not None and fact.correct is not None and fact.item in items:
        subject, grade, skills = items[fact.item]
        right = int(fact.correct)
        out.append(("u", f"{subject}\t{grade}", {"answers": 1, "correct": right}))
        for skill in skills:
            out.append(("s", f"{subject}\t{grade}\t{skill}", {"answers": 1, "correct": right}))
    return out


# --- pack items ------------------------------------------------------------------------------------

def item_rows(manifest: dict) -> list[dict]:
    """Every exercise item of a pack.json with the pack's subject and grade and its skills."""
    grades = manifest.get("grades") or []
    grade = grades[0] if len(grades) == 1 else -1
    rows: list[dict] = []

    def walk(nodes: Iterable[dict]) -> None:
        for node in nodes or ():
            for item in node.get("items") or ():
                rows.append({"pack_id": manifest["id"], "node_id": node["id"], "item_id": item["id"],
                             "subject": str(manifest.get("subject") or "")[:100], "grade": grade,
                             "skills": list(item.get("skills") or [])})
            walk(node.get("children") or ())
    walk(manifest.get("nodes") or ())
    return rows


def index_pack(manifest: dict) -> int:
    """Remember a published pack's items (a newer version's item replaces the older one's)."""
    rows = item_rows(manifest)
    with database.atomic():
        for start in range(0, len(rows), 500):
            ContentItem.insert_many(rows[start:start + 500]).on_conflict(
                conflict_target=[ContentItem.pack_id, ContentItem.node_id, ContentItem.item_id],
                update={ContentItem.subject: EXCLUDED.subject, ContentItem.grade: EXCLUDED.grade,
                        ContentItem.skills: EXCLUDED.skills}).execute()
    return len(rows)


def _items() -> dict[tuple[str, str, str], tuple[str, int, list[str]]]:
    return {(p, n, i): (s, g, k if isinstance(k, list) else json.loads(k))
            for p, n, i, s, g, k in ContentItem.select(ContentItem.pack_id, ContentItem.node_id, ContentItem.item_id,
                                                        ContentItem.subject, ContentItem.grade,
                                                        ContentItem.skills).tuples()}


# --- areas ---------------------------------------------------------------------------------------

def areas_of(school_id: str, region: str | None, district: str | None) -> list[str]:
    areas = [f"s:{school_id}", COUNTRY]
    if region:
        areas.append(f"r:{region}")
        if district:
            areas.append(f"d:{region}/{district}")
    return areas


def _places() -> dict[str, tuple[str | None, str | None]]:
    places = {s: (r, None) for s, r in School.select(School.id, School.region).tuples()}
    for school, region, district in RegisterSchool.select(RegisterSchool.hub_school, RegisterSchool.region,
                                                          RegisterSchool.district).where(
            RegisterSchool.hub_school.is_null(False)).tuples():
        places[school] = (region, district)
    return places


# --- the job ---------------------------------------------------------------------------------------

def refresh(max_records: int | None = None) -> int:
    """Add every acknowledged record not yet counted to the aggregates; the number of records read."""
    items = _items()
    places = _places()
    done = 0
    cursors = dict(AnalyticsCursor.select(AnalyticsCursor.school, AnalyticsCursor.seq).tuples())
    for school_id, acked in School.select(School.id, School.acked).tuples():
        while cursors.get(school_id, 0) < acked and (max_records is None or done < max_records):
            read = _refresh_chunk(school_id, cursors.get(school_id, 0), acked, items, places.get(school_id, (None, None)))
            cursors[school_id] = read[1]
            done += read[0]
    return done


def _refresh_chunk(school_id: str, after: int, acked: int, items, place) -> tuple[int, int]:
    with _transaction():
        # Two passes at once (a --loop and a hand-run one) must not count a record twice: on PostgreSQL
        # a lock per school for the transaction, on SQLite the write lock taken at its start; then the
        # cursor is read again and the chunk left alone if the other pass moved it.
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"analytics:{school_id}",))
        held = AnalyticsCursor.select(AnalyticsCursor.seq).where(AnalyticsCursor.school == school_id).scalar() or 0
        if held != after:
            return 0, held
        rows = (Record.select(Record.seq, Record.statement)
                .where((Record.school == school_id) & (Record.seq > after) & (Record.seq <= acked))
                .order_by(Record.seq).limit(CHUNK).tuples())
        rows = list(rows)
        last = rows[-1][0] if rows else acked
        sums: dict[tuple[str, str, datetime.date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        learner_sums: dict[tuple[datetime.date, str, str, str], list[int]] = {}
        weeks: dict[tuple[datetime.date, str], int] = defaultdict(int)
        for _, statement in rows:
            fact = fact_of(statement) if isinstance(statement, dict) else None
            if fact is None:
                continue
            if fact.day is not None:
                weeks[(fact.day - datetime.timedelta(days=fact.day.weekday()), fact.learner)] |= 1 << fact.day.weekday()
            for dim, key, values in cells_of(fact, items):
                cell = sums[(dim, key, fact.month)]
                for name, value in values.items():
                    cell[name] += value
                held = learner_sums.setdefault((fact.month, fact.learner, dim, key), [0, 0])
                held[0] += values.get("answers", 0)
                held[1] += values.get("correct", 0)
        _add_weeks(school_id, weeks)
        new_learners = _add_learners(school_id, learner_sums)
        for (dim, key, month), count in new_learners.items():
            sums[(dim, key, month)]["learners"] += count
        _add_to_areas(areas_of(school_id, *place), sums)
        AnalyticsCursor.insert(school=school_id, seq=last).on_conflict(
            conflict_target=[AnalyticsCursor.school], update={AnalyticsCursor.seq: EXCLUDED.seq}).execute()
    return len(rows), last


def _transaction():
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


def _add_weeks(school_id: str, weeks: dict[tuple[datetime.date, str], int]) -> None:
    """Remember each learner's days of work per week (bits, Monday first): sessions and active students."""
    rows = [{"school": school_id, "week": week, "learner": learner, "days": days}
            for (week, learner), days in weeks.items()]
    for start in range(0, len(rows), 500):
        LearnerWeek.insert_many(rows[start:start + 500]).on_conflict(
            conflict_target=[LearnerWeek.school, LearnerWeek.week, LearnerWeek.learner],
            update={LearnerWeek.days: LearnerWeek.days.bin_or(EXCLUDED.days)}).execute()


def _add_learners(school_id: str, learner_sums: dict) -> dict[tuple[str, str, datetime.date], int]:
    """Upsert the learners' cells; how many learners each (dim, key, month) gains."""
    if not learner_sums:
        return {}
    months = sorted({month for month, _, _, _ in learner_sums})
    learners = sorted({learner for _, learner, _, _ in learner_sums})
    held = set()
    for start in range(0, len(learners), 1000):
        held.update(LearnerCell.select(LearnerCell.month, LearnerCell.learner, LearnerCell.dim, LearnerCell.key)
                    .where((LearnerCell.school == school_id) & LearnerCell.month.in_(months)
                           & LearnerCell.learner.in_(learners[start:start + 1000])).tuples())
    held = {(_as_date(m), l, d, k) for m, l, d, k in held}
    gained: dict = defaultdict(int)
    rows = []
    for (month, learner, dim, key), (answers, correct) in learner_sums.items():
        if (month, learner, dim, key) not in held:
            gained[(dim, key, month)] += 1
        rows.append({"school": school_id, "month": month, "learner": learner, "dim": dim, "key": key,
                     "answers": answers, "correct": correct})
    for start in range(0, len(rows), 500):
        LearnerCell.insert_many(rows[start:start + 500]).on_conflict(
            conflict_target=[LearnerCell.school, LearnerCell.month, LearnerCell.learner, LearnerCell.dim,
                             LearnerCell.key],
            update={LearnerCell.answers: LearnerCell.answers + EXCLUDED.answers,
                    LearnerCell.correct: LearnerCell.correct + EXCLUDED.correct}).execute()
    return gained


SUMS = ("answers", "correct", "learners", "completions", "time_ms")


def _add_to_areas(areas: list[str], sums: dict) -> None:
    rows = [{"area": area, "dim": dim, "key": key, "month": month, **{n: values.get(n, 0) for n in SUMS}}
            for area in areas for (dim, key, month), values in sums.items()]
    update = {getattr(AreaCell, n): getattr(AreaCell, n) + getattr(EXCLUDED, n) for n in SUMS}
    for start in range(0, len(rows), 500):
        AreaCell.insert_many(rows[start:start + 500]).on_conflict(
            conflict_target=[AreaCell.area, AreaCell.dim, AreaCell.key, AreaCell.month], update=update).execute()


def rebuild_areas() -> int:
    """Sum the schools' cells again into districts, regions and the country (after the register changed)."""
    places = _places()
    with database.atomic():
        AreaCell.delete().where(~AreaCell.area.startswith("s:")).execute()
        totals: dict = defaultdict(lambda: defaultdict(int))
        query = AreaCell.select(AreaCell.area, AreaCell.dim, AreaCell.key, AreaCell.month,
                                *[getattr(AreaCell, n) for n in SUMS]).tuples()
        for area, dim, key, month, *values in query:
            school_id = area[2:]
            for target in areas_of(school_id, *places.get(school_id, (None, None)))[1:]:
                cell = totals[(target, dim, key, month)]
                for name, value in zip(SUMS, values):
                    cell[name] += int(value)
        rows = [{"area": a, "dim": d, "key": k, "month": m, **v} for (a, d, k, m), v in totals.items()]
        for start in range(0, len(rows), 500):
            AreaCell.insert_many(rows[start:start + 500]).execute()
    return len(rows)


def _as_date(value) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value)[:10])


# --- reading the aggregates --------------------------------------------------------------------------

def suppressed(cell: dict) -> dict:
    """A cell as it may be shown: fewer than MIN_STUDENTS students and every number about them is gone."""
    if cell.get("learners", 0) >= MIN_STUDENTS:
        return {**cell, "suppressed": False}
    return {**{k: (None if k not in ("area", "dim", "key", "month", "label") else v) for k, v in cell.items()},
            "suppressed": True}


def cell_of(row: dict) -> dict:
    """A cell as pages read it: the sums, and the share of correct answers."""
    answers = int(row["answers"])
    cell = {n: int(row[n]) for n in SUMS}
    cell["percent_correct"] = round(100 * int(row["correct"]) / answers, 1) if answers else None
    return cell


def cells(areas: list[str], dim: str, months: tuple[datetime.date, datetime.date] | None = None,
          by_month: bool = False, key_prefix: str | None = None) -> dict[tuple, dict]:
    """{(area, key[, month]): cell} summed over the months given (students: the largest month's count,
    since a student counted in two months is one student; the sum would count them twice)."""
    if not areas:
        return {}
    query = AreaCell.select(AreaCell.area, AreaCell.key, AreaCell.month, *[getattr(AreaCell, n) for n in SUMS]).where(
        AreaCell.area.in_(areas) & (AreaCell.dim == dim))
    if months:
        query = query.where(AreaCell.month.between(*months))
    if key_prefix is not None:
        query = query.where(AreaCell.key.startswith(key_prefix))
    out: dict[tuple, dict] = {}
    for area, key, month, *values in query.tuples():
        row = dict(zip(SUMS, (int(v) for v in values)))
        index = (area, key, _as_date(month)) if by_month else (area, key)
        held = out.get(index)
        if held is None:
            out[index] = row
        else:
            for name in SUMS:
                held[name] = max(held[name], row[name]) if name == "learners" else held[name] + row[name]
    return {index: cell_of(row) for index, row in out.items()}


def month_range(months: int, today: datetime.date | None = None) -> list[datetime.date]:
    today = today or datetime.date.today()
    first = today.replace(day=1)
    out = []
    for back in range(months - 1, -1, -1):
        year, month = divmod(first.year * 12 + first.month - 1 - back, 12)
        out.append(datetime.date(year, month + 1, 1))
    return out


def area_name(area: str) -> str:
    if area == COUNTRY:
        return "country"
    return area[2:]


def subjects_grades(area: str) -> list[tuple[str, int]]:
    rows = AreaCell.select(AreaCell.key).where((AreaCell.area == area) & (AreaCell.dim == "u")).distinct().tuples()
    out = []
    for (key,) in rows:
        subject, grade = key.split("\t")
        out.append((subject, int(grade)))
    return sorted(out)

