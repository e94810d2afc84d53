"""What the education department's learning pages show: for one area of the operator's scope, the
mastery by subject and grade, month by month and by skill, compared with its region and the country,
its districts or schools side by side, content used and assignment work. Plain dicts, small cells
suppressed; read from the aggregates only (analytics.py)."""
from __future__ import annotations

import datetime
from typing import Any

from . import analytics, operators
from .analytics import COUNTRY
from peewee import JOIN

from .models import RegisterSchool, School

MONTHS = 12
FAR_BELOW = 15.0  # percentage points under the country that mark a skill


class OutOfScope(LookupError):
    """An area the operator may not see (answered as not found)."""


def home_area(scope: operators.Scope) -> str:
    return {"ministry": COUNTRY, "region": f"r:{scope.region}", "district": f"d:{scope.region}/{scope.district}",
            "school": f"s:{scope.school}"}[scope.level]


def _school_place(school_id: str) -> tuple[str | None, str | None]:
    return operators.place_of_school(school_id)


def region_of(area: str) -> str | None:
    if area.startswith("r:"):
        return area
    if area.startswith("d:"):
        return "r:" + area[2:].split("/", 1)[0]
    if area.startswith("s:"):
        region, _ = _school_place(area[2:])
        return f"r:{region}" if region else None
    return None


def allowed(scope: operators.Scope, area: str) -> bool:
    if scope.level == "ministry":
        return area == COUNTRY or area[:2] in ("r:", "d:", "s:")
    if area.startswith("s:"):
        return area[2:] in operators.visible_school_ids(scope)
    if scope.level == "region":
        return area == f"r:{scope.region}" or area.startswith(f"d:{scope.region}/")
    if scope.level == "district":
        return area == f"d:{scope.region}/{scope.district}"
    return False


def children(scope: operators.Scope, area: str) -> list[tuple[str, str]]:
    """(area, label) one level down, inside the scope."""
    if area == COUNTRY:
        regions = {r for (r,) in RegisterSchool.select(RegisterSchool.region).distinct().tuples()}
        regions |= {r for (r,) in School.select(School.region).where(School.region.is_null(False)).distinct().tuples()}
        return [(f"r:{r}", r) for r in sorted(regions)]
    if area.startswith("r:"):
        region = area[2:]
        districts = RegisterSchool.select(RegisterSchool.district).where(RegisterSchool.region == region).distinct()
        return [(f"d:{region}/{d}", d) for (d,) in sorted(districts.tuples())]
    if area.startswith("d:"):
        region, district = area[2:].split("/", 1)
        rows = operators.visible_schools(scope).where((RegisterSchool.region == region)
                                                      & (RegisterSchool.district == district))
        return [(f"s:{s.id}", s.name) for s in rows]
    return []


def label(area: str) -> str:
    if area == COUNTRY:
        return "country"
    if area.startswith("s:"):
        school = School.get_or_none(School.id == area[2:])
        return school.name if school else area[2:]
    return area[2:].replace("/", ", ")


# --- complementary suppression ---------------------------------------------------------------------
# A hidden cell beside its siblings and their shown total is found by subtraction. So in every group of
# cells whose total a page or an export shows, one hidden cell never stays alone: a second one (the
# smallest shown, by answers) is hidden too. The groups: an area's parts against the area (a district's
# schools, a region's districts and schools outside the register, the country's regions), and an
# area's months against its whole period. The choice depends only on the numbers, never on who asks,
# so every view of a cell hides it alike.

def parent_of(area: str) -> str | None:
    """The area whose total holds this one's, as the aggregates sum them (analytics.areas_of)."""
    if area == COUNTRY:
        return None
    if area.startswith("d:"):
        return "r:" + area[2:].split("/", 1)[0]
    if area.startswith("s:"):
        row = RegisterSchool.get_or_none(RegisterSchool.hub_school == area[2:])
        if row is not None:
            return f"d:{row.region}/{row.district}"
        school = School.get_or_none(School.id == area[2:])
        return f"r:{school.region}" if school is not None and school.region else COUNTRY
    return COUNTRY


def outside_register() -> list[tuple[str, str | None]]:
    """(school id, region given at enrolment) of the enrolled schools the register does not place."""
    return list(School.select(School.id, School.region)
                .join(RegisterSchool, JOIN.LEFT_OUTER, on=(RegisterSchool.hub_school == School.id))
                .where(RegisterSchool.register_id.is_null()).tuples())


def members(area: str, outside: list[tuple[str, str | None]] | None = None) -> list[str]:
    """Every part whose sums make up the area's (also those no page lists: schools outside the register;
    `outside` is outside_register(), read once by a caller that asks for several areas)."""
    if area.startswith("s:"):
        return []
    if outside is None and area[:2] != "d:":
        outside = outside_register()
    if area == COUNTRY:
        regions = {f"r:{r}" for (r,) in RegisterSchool.select(RegisterSchool.region).distinct().tuples()}
        loose = []
        for school_id, region in outside:
            if region:
                regions.add(f"r:{region}")
            else:
                loose.append(f"s:{school_id}")
        return sorted(regions) + sorted(loose)
    if area.startswith("r:"):
        region = area[2:]
        districts = {f"d:{region}/{d}" for (d,) in RegisterSchool.select(RegisterSchool.district)
                     .where(RegisterSchool.region == region).distinct().tuples()}
        return sorted(districts) + sorted(f"s:{s}" for s, r in outside if r == region)
    if area.startswith("d:"):
        region, district = area[2:].split("/", 1)
        return sorted(f"s:{s}" for (s,) in RegisterSchool.select(RegisterSchool.hub_school).where(
            (RegisterSchool.region == region) & (RegisterSchool.district == district)
            & RegisterSchool.hub_school.is_null(False)).tuples())
    return []


def small(cell: dict | None) -> bool:
    return cell is not None and cell.get("learners", 0) < analytics.MIN_STUDENTS


def complement(total_hidden: bool, parts: dict[Any, dict | None], hidden: set | frozenset = frozenset()) -> set:
    """The parts to hide as well so that no hidden part is the total minus the shown ones: `parts` are
    raw cells (None: no data, a known zero), `hidden` parts already hidden for another reason."""
    if total_hidden:
        return set()
    gone = {name for name, cell in parts.items() if small(cell)} | set(hidden)
    if len(gone) != 1:
        return set()
    shown = sorted((cell["answers"], str(name), name) for name, cell in parts.items()
                   if cell is not None and cell.get("answers") and name not in gone)
    return {shown[0][2]} if shown else set()


def _period_totals(monthly: dict[tuple, dict]) -> dict[tuple, dict]:
    """{(area, key): cell} from {(area, key, month): cell}, as analytics.cells sums a period."""
    sums: dict[tuple, dict] = {}
    for (area, key, _), cell in monthly.items():
        held = sums.get((area, key))
        if held is None:
            sums[(area, key)] = {n: cell[n] for n in analytics.SUMS}
        else:
            for n in analytics.SUMS:
                held[n] = max(held[n], cell[n]) if n == "learners" else held[n] + cell[n]
    return {index: analytics.cell_of(row) for index, row in sums.items()}


def _settle(total: str | None, parts: dict[Any, dict | None], hidden: set) -> set:
    """The parts to hide as well in one group, given its total's state (None: no data, "shown", "small",
    "complement") and the parts hidden already: a shown total never beside a single hidden part, and a
    total hidden as a complement never the sum of parts all shown."""
    if total in (None, "small"):  # a small total's parts are small too (fewer students still)
        return set()
    if total == "complement":
        if any(small(c) for c in parts.values()) or set(parts) & hidden:
            return set()
        return complement(False, parts, {_TOTAL})
    return complement(False, parts, set(parts) & hidden)


_TOTAL = object()


def ancestors(area: str) -> list[str]:
    """The areas whose totals hold this one's, the country first."""
    chain = []
    parent = parent_of(area)
    while parent is not None:
        chain.append(parent)
        parent = parent_of(parent)
    return chain[::-1]


def hidden_cells(area: str, months: list[datetime.date], dim: str = "u", key_prefix: str | None = None,
                 period: tuple[datetime.date, datetime.date] | None = None,
                 parts: dict[str, list[str]] | None = None) -> dict[tuple, str]:
    """Which cells of one kind (`dim`: u subject and grade, s skill, p pack, g assignment work) to hide, and
    why ("small" or "complement"), for the view of `area`: the whole period's (month None) and each of
    `months` (none: the period only), of the area, its ancestors and its parts.

    Each area's cells form a grid with its parts: the parts' totals against the area's total, each month's
    parts against the area's month, and each part's months against its total. Going down from the
    country (whose own months against its total come first), every grid is settled with the area's row as
    its parent's grid left it, until no group has a lone hidden cell beside a shown total; so a cell is
    hidden alike on every page and in every export that shows it, whoever looks."""
    period = period or (months[0], months[-1])
    grids = ancestors(area) + [area]
    parts = parts if parts is not None else {}
    missing = [p for p in grids if p not in parts]
    outside = outside_register() if any(p[:2] not in ("d:", "s:") for p in missing) else None
    for p in missing:
        parts[p] = members(p, outside)
    involved = sorted(set(grids) | {m for p in grids for m in parts[p]})
    if months:  # one query: the period's totals are the months' sums (students: the busiest month's)
        monthly = analytics.cells(involved, dim, period, by_month=True, key_prefix=key_prefix)
        totals = _period_totals(monthly)
    else:
        monthly, totals = {}, analytics.cells(involved, dim, period, key_prefix=key_prefix)
    keys = sorted({k for (_, k) in totals})
    hidden: dict[tuple, str] = {}
    for (a, k), c in totals.items():
        if small(c):
            hidden[(a, k, None)] = "small"
    for (a, k, m), c in monthly.items():
        if small(c):
            hidden[(a, k, m)] = "small"

    def state(a: str, k: str, m) -> str | None:
        c = totals.get((a, k)) if m is None else monthly.get((a, k, m))
        return None if c is None else hidden.get((a, k, m), "shown")

    def settle(group: list[tuple], total: tuple) -> bool:
        cells = {i: (totals.get(i[:2]) if i[2] is None else monthly.get(i)) for i in group}
        added = _settle(state(*total), cells, {i for i in group if i in hidden})
        for i in added:
            hidden[i] = "complement"
        return bool(added)

    root = grids[0]
    for k in keys:
        while settle([(root, k, m) for m in months], (root, k, None)):
            pass
        for p in grids:
            kids = parts[p]
            changed = True
            while changed:
                changed = settle([(c, k, None) for c in kids], (p, k, None))
                for m in months:
                    changed |= settle([(c, k, m) for c in kids], (p, k, m))
                for c in kids:
                    changed |= settle([(c, k, m) for m in months], (c, k, None))
    return hidden


def hide(cell: dict | None, reason: str) -> dict | None:
    """A cell shown as hidden: `small` (fewer than MIN_STUDENTS students) or `complement` (so that a small
    one cannot be worked out)."""
    if cell is None:
        return None
    return {**{k: None for k in cell}, "suppressed": True, "reason": reason}


def _pct(cell: dict | None) -> float | None:
    return None if cell is None or cell.get("suppressed") else cell.get("percent_correct")


def view(scope: operators.Scope, area: str | None, subject: str | None, grade: int | None,
         today: datetime.date | None = None) -> dict[str, Any]:
    area = area or home_area(scope)
    if not allowed(scope, area):
        raise OutOfScope(area)
    months = analytics.month_range(MONTHS, today)
    period = (months[0], months[-1])
    compare = [a for a in (region_of(area), COUNTRY) if a and a != area]
    shown = [area] + compare
    subjects = analytics.cells(shown, "u", period)
    pairs = sorted({tuple(key.split("\t")) for (a, key) in subjects if a == area})
    if subject is None and pairs:
        subject, grade = pairs[0][0], int(pairs[0][1])
    key = f"{subject}\t{grade}" if subject is not None else None

    def cell(table: dict, index: tuple) -> dict | None:
        found = table.get(index)
        return None if found is None else hide(found, "small") if small(found) else {**found, "suppressed": False}

    parts: dict[str, list[str]] = {}  # each grid's parts, read once for the four kinds of cell
    hidden = hidden_cells(area, months, parts=parts)

    def grid_cell(raw: dict | None, index: tuple, flags: dict | None = None) -> dict | None:
        if raw is None:
            return None
        why = (hidden if flags is None else flags).get(index) or ("small" if small(raw) else None)
        return hide(raw, why) if why else {**raw, "suppressed": False}

    subject_rows = [{"subject": s, "grade": int(g),
                     "cells": {a: grid_cell(subjects.get((a, f"{s}\t{g}")), (a, f"{s}\t{g}", None)) for a in shown}}
                    for s, g in pairs]
    growth = []
    skills_rows = []
    child_rows = []
    if key is not None:
        by_month = analytics.cells(shown, "u", period, by_month=True, key_prefix=key)
        growth = [{"month": m.isoformat()[:7],
                   "cells": {a: grid_cell(by_month.get((a, key, m)), (a, key, m)) for a in shown}} for m in months]
        skills = analytics.cells(shown, "s", period, key_prefix=key + "\t")
        hidden_skills = hidden_cells(area, [], "s", key + "\t", period, parts)
        for skill in sorted({k.split("\t")[2] for (a, k) in skills if a == area}):
            cells = {a: grid_cell(skills.get((a, f"{key}\t{skill}")), (a, f"{key}\t{skill}", None), hidden_skills)
                     for a in shown}
            here, country = _pct(cells.get(area)), _pct(cells.get(COUNTRY))
            skills_rows.append({"skill": skill, "cells": cells,
                                "far_below": here is not None and country is not None and here < country - FAR_BELOW})
        kids = children(scope, area)
        kid_cells = analytics.cells([k for k, _ in kids], "u", period, key_prefix=key)
        child_rows = [{"area": k, "label": name, "cell": grid_cell(kid_cells.get((k, key)), (k, key, None))}
                      for k, name in kids]
    packs = analytics.cells([area], "p", period)
    hidden_packs = hidden_cells(area, [], "p", None, period, parts)
    content = sorted(({"pack_id": k, **grid_cell(c, (area, k, None), hidden_packs)} for (_, k), c in packs.items()),
                     key=lambda row: -(row["answers"] or 0))
    work = analytics.cells([area], "g", period, by_month=True)
    hidden_work = hidden_cells(area, months, "g", None, period, parts)
    assignments = [{"month": m.isoformat()[:7],
                    **(grid_cell(work[(area, "", m)], (area, "", m), hidden_work) if (area, "", m) in work
                       else {"answers": 0, "completions": 0, "learners": 0, "suppressed": False})} for m in months]
    return {"area": area, "label": label(area), "compare": compare, "labels": {a: label(a) for a in shown},
            "shown": shown, "subject": subject, "grade": grade, "pairs": [(s, int(g)) for s, g in pairs],
            "months": [m.isoformat()[:7] for m in months], "subjects": subject_rows, "growth": growth,
            "skills": skills_rows, "children": child_rows, "content": content, "assignments": assignments,
            "min_students": analytics.MIN_STUDENTS}


def csv_rows(data: dict) -> list[dict]:
    """The view as one table: a row per (table, area, ...) with its numbers; suppressed cells empty."""
    rows = []

    def add(table: str, area: str, cell: dict | None, **what) -> None:
        cell = cell or {}
        rows.append({"table": table, "area": area, **what,
                     "percent_correct": cell.get("percent_correct"), "answers": cell.get("answers"),
                     "students": cell.get("learners"),
                     "suppressed": ("complement" if cell.get("reason") == "complement" else "yes")
                     if cell.get("suppressed") else ""})
    for row in data["subjects"]:
        for area, cell in row["cells"].items():
            add("subject", area, cell, subject=row["subject"], grade=row["grade"])
    for row in data["growth"]:
        for area, cell in row["cells"].items():
            add("month", area, cell, subject=data["subject"], grade=data["grade"], month=row["month"])
    for row in data["skills"]:
        for area, cell in row["cells"].items():
            add("skill", area, cell, subject=data["subject"], grade=data["grade"], skill=row["skill"])
    for row in data["children"]:
        add("part", row["area"], row["cell"], subject=data["subject"], grade=data["grade"])
    for row in data["content"]:
        add("pack", data["area"], row, pack=row["pack_id"])
    return rows


CSV_COLUMNS = ["table", "area", "subject", "grade", "month", "skill", "pack", "percent_correct", "answers",
               "students", "suppressed"]
