"""Pilot programmes kept on the hub: a name, subjects and grades, a start, pilot schools and comparison
schools (chosen by the operator, or matched on the register's region, rural/urban, language of
instruction and size), a baseline, an outcome (the adaptive model's mastery from the aggregates, or a
national diagnostic sent before and after), and a plan (active students and sessions per pilot school
per week) whose shortfall becomes a warning. An operator sees and makes programmes only within scope.
"""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any, Sequence

from peewee import IntegrityError

from . import operators, pilot
from .db import database
from .evaluation import Estimate
from .models import LearnerWeek, NationalAssignment, Operator, PilotProgramme, PilotSchool, School, utcnow

OUTCOMES = ("mastery", "diagnostic")
PLAN_WEEKS = 2  # a pilot school under its plan this many complete weeks running gets a warning
OperatorError = operators.OperatorError


# --- matching comparison schools (pure) ---------------------------------------------------------------

def distance(a: dict, b: dict) -> float:
    """How unlike two schools are by the register: another region 2, rural/urban or language 1 each
    (0.5 when one is unknown), size by the difference of log(students + 1) (0.5 when unknown)."""
    d = 0.0 if a.get("region") == b.get("region") else 2.0
    for field in ("rural", "language"):
        if a.get(field) is None or b.get(field) is None:
            d += 0.5
        elif a[field] != b[field]:
            d += 1.0
    if a.get("students") is None or b.get("students") is None:
        d += 0.5
    else:
        d += abs(math.log(a["students"] + 1) - math.log(b["students"] + 1))
    return d


def match(pilots: Sequence[dict], candidates: Sequence[dict], per_pilot: int = 1) -> list[str]:
    """Comparison schools for the pilot schools: for each pilot school in turn (by id), the nearest
    candidate not yet taken, per_pilot times. Rows are scope rows (school_id, region, rural, language,
    students); ties go to the smaller school id, so the same register gives the same match."""
    taken: set[str] = {p["school_id"] for p in pilots}
    chosen: list[str] = []
    for _ in range(per_pilot):
        for school in sorted(pilots, key=lambda p: p["school_id"]):
            free = [c for c in candidates if c["school_id"] not in taken]
            if not free:
                return chosen
            best = min(free, key=lambda c: (distance(school, c), c["school_id"]))
            taken.add(best["school_id"])
            chosen.append(best["school_id"])
    return chosen


# --- making and finding programmes ------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    students: int | None = None
    sessions: int | None = None


def _ids(given: Sequence[str], visible: set[str]) -> list[str]:
    out: list[str] = []
    for raw in given:
        raw = raw.strip()
        if not raw:
            continue
        try:
            school_id = operators.resolve_school(raw)
        except OperatorError:
            school_id = None
        if school_id is None or school_id not in visible:
            raise OperatorError("no enrolled school %(school)s", school=raw)  # outside the scope: as if unknown
        if school_id not in out:
            out.append(school_id)
    return out


def create(creator: Operator | None, *, name: str, subjects: Sequence[str], grades: Sequence[int],
           start: datetime.date, pilot_schools: Sequence[str], comparison_schools: Sequence[str] = (),
           match_per_pilot: int = 0, outcome: str = "mastery", baseline_months: int = 3,
           diagnostic_before: str | None = None, diagnostic_after: str | None = None,
           plan: Plan = Plan()) -> PilotProgramme:
    """A new programme; OperatorError (translatable) naming what to fix, and nothing stored, otherwise.
    `creator` None is the command line (the whole country)."""
    scope = operators.scope_of(creator) if creator is not None else operators.Scope("ministry")
    if scope.level == "school":
        raise OperatorError("a school director's account does not evaluate programmes")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise OperatorError("give the programme a name of 1 to 200 characters")
    subjects = [s.strip() for s in subjects if s and s.strip()]
    if not subjects:
        raise OperatorError("give at least one subject, as the packs name it (e.g. mathematics)")
    if not grades or any(not 0 <= g <= 12 for g in grades):
        raise OperatorError("give at least one grade, each a whole number from 0 to 12")
    if outcome not in OUTCOMES:
        raise OperatorError("the outcome is mastery or diagnostic")
    if not 1 <= baseline_months <= 24:
        raise OperatorError("the baseline is 1 to 24 months")
    for value in (plan.students, plan.sessions):
        if value is not None and not 0 <= value <= 100_000:
            raise OperatorError("a plan is a whole number from 0 to 100000 per school and week")
    if outcome == "diagnostic":
        for given in (diagnostic_before, diagnostic_after):
            if not given or NationalAssignment.get_or_none(NationalAssignment.id == given) is None:
                raise OperatorError("a diagnostic outcome needs the national assignment sent before the start and "
                                    "the one sent after it (classroom-hub assignment list)")
        if diagnostic_before == diagnostic_after:
            raise OperatorError("the diagnostic before and the one after must be two assignments")
    rows = {r["school_id"]: r for r in operators.scope_rows(scope)}
    pilots = _ids(pilot_schools, set(rows))
    comparisons = _ids(comparison_schools, set(rows))
    if not pilots:
        raise OperatorError("give the pilot schools")
    if set(pilots) & set(comparisons):
        raise OperatorError("a school cannot be both pilot and comparison")
    matching = "chosen"
    if match_per_pilot:
        if comparisons:
            raise OperatorError("choose the comparison schools or have them matched, not both")
        candidates = [r for r in rows.values() if r["register_id"] and r["status"] == "active"]
        comparisons = match([rows[p] for p in pilots], candidates, match_per_pilot)
        matching = "matched"
    if not comparisons:
        raise OperatorError("give the comparison schools, or have them matched on the register")
    try:
        with database.atomic():
            made = PilotProgramme.create(
                name=name, subjects=subjects, grades=sorted(set(grades)), start=start, baseline_months=baseline_months,
                outcome=outcome, diagnostic_before=diagnostic_before if outcome == "diagnostic" else None,
                diagnostic_after=diagnostic_after if outcome == "diagnostic" else None, matching=matching,
                plan_students=plan.students, plan_sessions=plan.sessions, region=scope.region,
                district=scope.district, created_by=creator.username if creator else None)
            PilotSchool.insert_many([{"programme": made.id, "school": s, "role": "pilot"} for s in pilots]
                                    + [{"programme": made.id, "school": s, "role": "comparison"}
                                       for s in comparisons]).execute()
    except IntegrityError:
        raise OperatorError("a school cannot be both pilot and comparison") from None
    return made


def visible(scope: operators.Scope) -> list[PilotProgramme]:
    """The programmes made inside a scope (a region's operator sees its districts' too), newest first."""
    if scope.level == "school":
        return []
    query = PilotProgramme.select().order_by(PilotProgramme.created_at.desc(), PilotProgramme.id.desc())
    if scope.level == "region":
        query = query.where(PilotProgramme.region == scope.region)
    elif scope.level == "district":
        query = query.where((PilotProgramme.region == scope.region) & (PilotProgramme.district == scope.district))
    return list(query)


def get(scope: operators.Scope, programme_id: Any) -> PilotProgramme | None:
    try:
        wanted = int(programme_id)
    except (TypeError, ValueError):
        return None
    return next((p for p in visible(scope) if p.id == wanted), None)


def schools(programme: PilotProgramme) -> tuple[list[str], list[str]]:
    rows = PilotSchool.select(PilotSchool.school, PilotSchool.role).where(
        PilotSchool.programme == programme.id).order_by(PilotSchool.school).tuples()
    pilots = [s for s, role in rows if role == "pilot"]
    return pilots, [s for s, role in rows if role == "comparison"]


def evaluate(programme: PilotProgramme) -> tuple[Estimate, list[str]]:
    """The programme's estimate with the existing evaluation (pilot.py), and the schools left out."""
    pilots, comparisons = schools(programme)
    if programme.outcome == "diagnostic":
        before = NationalAssignment.get(NationalAssignment.id == programme.diagnostic_before)
        after = NationalAssignment.get(NationalAssignment.id == programme.diagnostic_after)
        return pilot.evaluate_diagnostic(pilots, comparisons, before, after)
    keys = [f"{subject}\t{grade}" for subject in programme.subjects for grade in programme.grades]
    start = programme.start if isinstance(programme.start, datetime.date) else \
        datetime.date.fromisoformat(str(programme.start))
    return pilot.evaluate_keys(pilots, comparisons, start, keys, programme.baseline_months)


def as_dict(programme: PilotProgramme) -> dict[str, Any]:
    pilots, comparisons = schools(programme)
    return {"id": programme.id, "name": programme.name, "subjects": programme.subjects, "grades": programme.grades,
            "start": str(programme.start), "baseline_months": programme.baseline_months,
            "outcome": programme.outcome, "diagnostic_before": programme.diagnostic_before,
            "diagnostic_after": programme.diagnostic_after, "matching": programme.matching,
            "plan_students": programme.plan_students, "plan_sessions": programme.plan_sessions,
            "region": programme.region, "district": programme.district, "created_by": programme.created_by,
            "pilot_schools": pilots, "comparison_schools": comparisons}


# --- plans: pilot schools falling behind ----------------------------------------------------------------

def monday(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def week_activity(school_ids: Sequence[str], weeks: Sequence[datetime.date]) -> dict[tuple[str, datetime.date],
                                                                                      tuple[int, int]]:
    """{(school, week): (active students, sessions)}: a session is one student's day of work."""
    out: dict = {}
    if not school_ids or not weeks:
        return out
    query = (LearnerWeek.select(LearnerWeek.school, LearnerWeek.week, LearnerWeek.days)
             .where(LearnerWeek.school.in_(list(school_ids)) & LearnerWeek.week.in_(list(weeks))).tuples())
    for school, week, days in query:
        week = week if isinstance(week, datetime.date) else datetime.date.fromisoformat(str(week)[:10])
        students, sessions = out.get((school, week), (0, 0))
        out[(school, week)] = (students + 1, sessions + bin(int(days)).count("1"))
    return out


def behind_plan(today: datetime.date | None = None) -> list[dict[str, Any]]:
    """Every pilot school under its programme's plan in each of the last PLAN_WEEKS complete weeks since
    the start: (school, name, evidence) for alerts.py."""
    today = today or utcnow().date()
    weeks = [monday(today) - datetime.timedelta(weeks=n) for n in range(PLAN_WEEKS, 0, -1)]
    found = []
    programmes = PilotProgramme.select().where(
        (PilotProgramme.plan_students.is_null(False) | PilotProgramme.plan_sessions.is_null(False)))
    for programme in programmes:
        start = programme.start if isinstance(programme.start, datetime.date) else \
            datetime.date.fromisoformat(str(programme.start))
        if weeks[0] < monday(start):
            continue  # not two whole weeks since the start yet
        pilots, _ = schools(programme)
        activity = week_activity(pilots, weeks)
        names = dict(School.select(School.id, School.name).where(School.id.in_(pilots)).tuples())
        for school_id in pilots:
            seen = [activity.get((school_id, w), (0, 0)) for w in weeks]
            under = [(programme.plan_students is not None and students < programme.plan_students)
                     or (programme.plan_sessions is not None and sessions < programme.plan_sessions)
                     for students, sessions in seen]
            if all(under):
                found.append({"school": school_id, "name": names.get(school_id, school_id), "evidence": {
                    "programme": programme.name, "programme_id": programme.id,
                    "weeks": [w.isoformat() for w in weeks], "students": [s for s, _ in seen],
                    "sessions": [n for _, n in seen], "plan_students": programme.plan_students,
                    "plan_sessions": programme.plan_sessions}})
    return found


def plan_table(programme: PilotProgramme, today: datetime.date | None = None, count: int = 4) -> list[dict]:
    """The pilot schools' last `count` complete weeks against the plan, for the programme's page."""
    today = today or utcnow().date()
    weeks = [monday(today) - datetime.timedelta(weeks=n) for n in range(count, 0, -1)]
    pilots, _ = schools(programme)
    activity = week_activity(pilots, weeks)
    names = dict(School.select(School.id, School.name).where(School.id.in_(pilots)).tuples())
    return [{"school": s, "name": names.get(s, s), "weeks": [
        {"week": w.isoformat(), "students": activity.get((s, w), (0, 0))[0],
         "sessions": activity.get((s, w), (0, 0))[1]} for w in weeks]} for s in pilots]

