"""Early warnings for an operator's scope, each with its reason and its evidence, read from the
school table, the per-day counts and the analytics' sums (never from raw statements):

- silent: an active school not heard from for more than SILENT_DAYS days (or never);
- broken sync: a school holding records beyond a gap it cannot acknowledge for more than a day;
- activity stalled: a school's records fell by half or more over the last two weeks while the rest
  of its district held up;
- mastery stalled: a school's share of correct answers did not grow last month while its district's
  grew by MASTERY_MOVE points or more;
- skill far below: a district's share of correct answers in a skill more than FAR_BELOW points under
  the country's over the last three months;
- behind plan: a pilot school under its programme's plan (active students or sessions per week) in
  each of the last two complete weeks (programmes.py).

Cells about fewer than MIN_STUDENTS students give no warning (their numbers would show them).
"""
from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from peewee import Case, fn

from . import analytics, operators, programmes
from .analytics import COUNTRY, MIN_STUDENTS
from .models import AlertSnapshot, Record, SchoolDay, utcnow

SILENT_DAYS = 7
GAP_HOURS = 24
STALL_DAYS = 14
STALL_MIN_RECORDS = 100  # a school with fewer records before is too small to call stalled
MASTERY_MOVE = 3.0
FAR_BELOW = 15.0
KINDS = ("silent", "broken_sync", "activity_stalled", "mastery_stalled", "skill_far_below", "behind_plan")


@dataclass(frozen=True)
class Alert:
    kind: str
    area: str  # s:SCHOOL or d:REGION/DISTRICT
    name: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _months_before(today: datetime.date, count: int) -> list[datetime.date]:
    """The `count` complete months before today's, oldest first."""
    return analytics.month_range(count + 1, today)[:-1]


def for_scope(scope: operators.Scope, today: datetime.date | None = None,
              now: datetime.datetime | None = None) -> list[Alert]:
    now = now or utcnow()
    today = today or now.date()
    schools = operators.scope_rows(scope)
    out: list[Alert] = []
    for school in schools:
        if school["status"] != "active":
            continue
        area, last_contact, acked = f"s:{school['school_id']}", school["_last_contact"], school["_acked"]
        if last_contact is None or now - last_contact > datetime.timedelta(days=SILENT_DAYS):
            days = None if last_contact is None else (now - last_contact).days
            out.append(Alert("silent", area, school["name"], {"last_contact": school["last_contact"],
                                                              "days_silent": days}))
        elif school["records_received"] > acked and _gap_older_than(school["school_id"], acked,
                                                                     now - datetime.timedelta(hours=GAP_HOURS)):
            out.append(Alert("broken_sync", area, school["name"], {
                "acked": acked, "records_received": school["records_received"],
                "held_beyond_gap": school["records_received"] - acked}))
    out += _activity_stalls(schools, today)
    out += _mastery_stalls(schools, today)
    out += _skills_far_below(schools, today)
    ids = {s["school_id"] for s in schools}
    out += [Alert("behind_plan", f"s:{found['school']}", found["name"], found["evidence"])
            for found in programmes.behind_plan(today) if found["school"] in ids]
    return out


def _gap_older_than(school_id: str, acked: int, before: datetime.datetime) -> bool:
    """Whether a record beyond the ack (held while an earlier one is missing) arrived before `before`:
    a gap that lasted, not a batch overtaking another for a moment. Reads only the records above the ack."""
    return Record.select().where((Record.school == school_id) & (Record.seq > acked)
                                 & (Record.received_at < before)).exists()


def _district(school: dict) -> str | None:
    return f"d:{school['region']}/{school['district']}" if school["region"] and school["district"] else None


def _activity_stalls(schools: list[dict], today: datetime.date) -> list[Alert]:
    start = today - datetime.timedelta(days=2 * STALL_DAYS)
    middle = today - datetime.timedelta(days=STALL_DAYS)
    placed = {s["school_id"]: s for s in schools if _district(s)}
    if not placed:
        return []
    districts = {_district(s) for s in placed.values()}
    # The whole district, also its schools outside the scope, is what "the district moves" means.
    members = defaultdict(list)
    for row in operators.RegisterSchool.select(operators.RegisterSchool.hub_school, operators.RegisterSchool.region,
                                               operators.RegisterSchool.district).where(
            operators.RegisterSchool.hub_school.is_null(False)).tuples():
        district = f"d:{row[1]}/{row[2]}"
        if district in districts:
            members[district].append(row[0])
    ids = [s for group in members.values() for s in group]
    before, after = defaultdict(int), defaultdict(int)
    # Summed by the database: one row per school, not one per school and day.
    query = (SchoolDay.select(SchoolDay.school,
                              fn.SUM(Case(None, [(SchoolDay.day < middle, SchoolDay.records)], 0)),
                              fn.SUM(Case(None, [(SchoolDay.day >= middle, SchoolDay.records)], 0)))
             .where(SchoolDay.school.in_(ids) & (SchoolDay.day >= start) & (SchoolDay.day < today))
             .group_by(SchoolDay.school).tuples())
    for school_id, old, new in query:
        before[school_id], after[school_id] = int(old or 0), int(new or 0)
    out = []
    for school_id, school in placed.items():
        old, new = before[school_id], after[school_id]
        if old < STALL_MIN_RECORDS or new > old / 2:
            continue
        others = [s for s in members[_district(school)] if s != school_id]
        others_old, others_new = sum(before[s] for s in others), sum(after[s] for s in others)
        if not others_old or others_new < others_old * 0.9:
            continue
        out.append(Alert("activity_stalled", f"s:{school_id}", school["name"], {
            "records_before": old, "records_last": new, "change_percent": round(100 * (new - old) / old),
            "district_change_percent": round(100 * (others_new - others_old) / others_old),
            "days": STALL_DAYS, "since": start.isoformat()}))
    return out


def _pct(cell: dict | None) -> float | None:
    if cell is None or cell["learners"] < MIN_STUDENTS or not cell["answers"]:
        return None
    return cell["percent_correct"]


def _mastery_stalls(schools: list[dict], today: datetime.date) -> list[Alert]:
    previous, last = _months_before(today, 2)
    placed = [s for s in schools if _district(s)]
    areas = [f"s:{s['school_id']}" for s in placed] + sorted({_district(s) for s in placed})
    sums: dict = defaultdict(lambda: {"answers": 0, "correct": 0, "learners": 0})
    for start in range(0, len(areas), 1000):  # every subject and grade of every area, both months, in a few queries
        for (area, _key, month), cell in analytics.cells(areas[start:start + 1000], "u", (previous, last),
                                                         by_month=True).items():
            held = sums[(area, month)]
            held["answers"] += cell["answers"]
            held["correct"] += cell["correct"]
            held["learners"] = max(held["learners"], cell["learners"])
    totals = {index: {**held, "percent_correct": round(100 * held["correct"] / held["answers"], 1)
                      if held["answers"] else None} for index, held in sums.items()}
    empty = {"answers": 0, "correct": 0, "learners": 0, "percent_correct": None}
    out = []
    for school in placed:
        area, district = f"s:{school['school_id']}", _district(school)
        s0, s1 = _pct(totals.get((area, previous), empty)), _pct(totals.get((area, last), empty))
        d0, d1 = _pct(totals.get((district, previous), empty)), _pct(totals.get((district, last), empty))
        if None in (s0, s1, d0, d1):
            continue
        if s1 - s0 <= 0 and d1 - d0 >= MASTERY_MOVE:
            out.append(Alert("mastery_stalled", area, school["name"], {
                "months": [previous.isoformat()[:7], last.isoformat()[:7]], "school_percent": [s0, s1],
                "district_percent": [d0, d1], "students": totals[(area, last)]["learners"]}))
    return out


def _skills_far_below(schools: list[dict], today: datetime.date) -> list[Alert]:
    months = _months_before(today, 3)
    districts = sorted({_district(s) for s in schools if _district(s)})
    if not districts:
        return []
    cells = analytics.cells(districts + [COUNTRY], "s", (months[0], months[-1]))
    out = []
    for (area, key), cell in sorted(cells.items()):
        if area == COUNTRY:
            continue
        here, country = _pct(cell), _pct(cells.get((COUNTRY, key)))
        if here is None or country is None or here >= country - FAR_BELOW:
            continue
        subject, grade, skill = key.split("\t")
        out.append(Alert("skill_far_below", area, area[2:].replace("/", ", "), {
            "subject": subject, "grade": int(grade), "skill": skill, "percent": here, "country_percent": country,
            "students": cell["learners"], "months": [months[0].isoformat()[:7], months[-1].isoformat()[:7]]}))
    return out


def week_numbers(scope: operators.Scope, today: datetime.date) -> dict[str, Any]:
    """The week's headline for a digest: records received and schools heard from in the last 7 days."""
    ids = operators.visible_school_ids(scope)
    since = today - datetime.timedelta(days=7)
    records = schools = 0
    if ids:
        query = (SchoolDay.select(SchoolDay.school, fn.SUM(SchoolDay.records))
                 .where(SchoolDay.school.in_(ids) & (SchoolDay.day >= since) & (SchoolDay.day < today))
                 .group_by(SchoolDay.school).tuples())
        for _, count in query:
            records += int(count)
            schools += 1
    return {"since": since.isoformat(), "until": (today - datetime.timedelta(days=1)).isoformat(),
            "records": records, "schools_sending": schools, "schools": len(ids)}


def save_snapshot(now: datetime.datetime | None = None) -> int:
    """Find the whole country's warnings and keep them for the pages (run by `analytics refresh`)."""
    now = now or utcnow()
    found = for_scope(operators.Scope("ministry"), now=now)
    AlertSnapshot.insert(id=1, computed_at=now, alerts=[a.as_dict() for a in found]).on_conflict(
        conflict_target=[AlertSnapshot.id],
        update={AlertSnapshot.computed_at: now, AlertSnapshot.alerts: [a.as_dict() for a in found]}).execute()
    return len(found)


def from_snapshot(scope: operators.Scope) -> tuple[list[Alert], datetime.datetime | None]:
    """The last snapshot's warnings inside a scope, and when they were found (None: never yet)."""
    snapshot = AlertSnapshot.get_or_none(AlertSnapshot.id == 1)
    if snapshot is None:
        return [], None
    found = [Alert(**a) for a in snapshot.alerts]
    if scope.level != "ministry":
        schools = set(operators.visible_school_ids(scope))
        found = [a for a in found if (a.area[2:] in schools if a.area.startswith("s:")
                                      else operators.within(scope, *a.area[2:].split("/", 1), None))]
    return found, snapshot.computed_at
