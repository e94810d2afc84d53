"""Adaptive practice for teachers: the class's mastery heatmap (students x skills) and who needs help
on what, each with a reason the teacher can check against the student's answers.

Routes live on the coach blueprint (teachers of the class and admins, `own_classroom`); the figures
come from learn.tutor, which the student pages and the student's report (coach.reports) use too.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import render_template

from ..accounts import services as accounts
from ..learn import tutor
from .reports import MASTERY_BINS
from .blueprint import bp, own_classroom

#: mastery bins, best first: (lowest percent, fill); each cell also shows its number
BINS = tuple((lowest, fill) for lowest, fill, _state in MASTERY_BINS)
NOT_PRACTISED = "#ffffff"
SWATCHES = tuple(fill for _lowest, fill in BINS) + (NOT_PRACTISED,)  # drawn once, <use>d by every cell
#: skills per table at most: with the names written upwards, a table this wide fits a 1366 px screen
#: and an A4 landscape page (tests/test_browser_teacher_day.py measures both)
COLUMNS = 12


def swatch_of(cell) -> int:
    """The index in SWATCHES of a heatmap cell's colour."""
    if cell is None or cell.p is None:
        return len(BINS)
    return next(index for index, (lowest, _fill) in enumerate(BINS) if cell.percent >= lowest)


@dataclass(frozen=True)
class SkillTable:
    pack_title: str  # JSON: texts by language
    part: int  # 1, 2, ... when a pack has more skills than one table holds; 0 when it fits in one
    skills: list[str]


def skill_tables(skills: list[str], lib: tutor.Library, columns: int = COLUMNS) -> list[SkillTable]:
    """The heatmap's skills as tables: one per pack (in library order), split every `columns` skills."""
    pack_of: dict[str, tuple[str, str]] = {}
    for topic in lib.topics:
        for skill in topic.skills:
            pack_of.setdefault(skill, (topic.pack_id, topic.pack_title))
    by_pack: dict[tuple[str, str], list[str]] = {}
    for skill in skills:
        by_pack.setdefault(pack_of.get(skill, ("", "{}")), []).append(skill)
    tables = []
    for (_pack_id, title), found in by_pack.items():
        chunks = [found[start:start + columns] for start in range(0, len(found), columns)]
        tables += [SkillTable(title, index + 1 if len(chunks) > 1 else 0, chunk) for index, chunk in enumerate(chunks)]
    return tables


@bp.get("/class/<int:class_id>/mastery")
def mastery(class_id: int):
    room = own_classroom(class_id)
    found = tutor.class_mastery(accounts.class_students(room))
    return render_template("coach/mastery.html", classroom=room, found=found, swatch_of=swatch_of, bins=BINS,
                           swatches=SWATCHES, reason_text=tutor.reason_text,
                           tables=skill_tables(found.skills, tutor.library()))
