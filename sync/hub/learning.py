"""What the education department's learning pages show: for one area of the operator's scope, the
mastery by subject and grade, month by month and by skill, compared with its region and the country,
its districts or schools side by side, content used and assignment work. Plain dicts, small cells
suppressed; read from the aggregates only (analytics.py)."""
from __future__ import annotations

import datetime
from typing import Any

from . import analytics, operators
from .analytics import COUNTRY, suppressed
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
        return suppressed(found) if found is not None else None

    subject_rows = [{"subject": s, "grade": int(g), "cells": {a: cell(subjects, (a, f"{s}\t{g}")) for a in shown}}
                    for s, g in pairs]
    growth = []
    skills_rows = []
    child_rows = []
    if key is not None:
        by_month = analytics.cells(shown, "u", period, by_month=True, key_prefix=key)
        growth = [{"month": m.isoformat()[:7], "cells": {a: cell(by_month, (a, key, m)) for a in shown}} for m in months]
        skills = analytics.cells(shown, "s", period, key_prefix=key + "\t")
        for skill in sorted({k.split("\t")[2] for (a, k) in skills if a == area}):
            cells = {a: cell(skills, (a, f"{key}\t{skill}")) for a in shown}
            here, country = _pct(cells.get(area)), _pct(cells.get(COUNTRY))
            skills_rows.append({"skill": skill, "cells": cells,
                                "far_below": here is not None and country is not None and here < country - FAR_BELOW})
        kids = children(scope, area)
        kid_cells = analytics.cells([k for k, _ in kids], "u", period, key_prefix=key)
        child_rows = [{"area": k, "label": name, "cell": cell(kid_cells, (k, key))} for k, name in kids]
    packs = analytics.cells([area], "p", period)
    content = sorted(({"pack_id": k, **suppressed(c)} for (_, k), c in packs.items()),
                     key=lambda row: -(row["answers"] or 0))
    work = analytics.cells([area], "g", period, by_month=True)
    assignments = [{"month": m.isoformat()[:7], **(suppressed(work[(area, "", m)]) if (area, "", m) in work
                                                   else {"answers": 0, "completions": 0, "learners": 0,
                                                         "suppressed": False})} for m in months]
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
                     "students": cell.get("learners"), "suppressed": "yes" if cell.get("suppressed") else ""})
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
