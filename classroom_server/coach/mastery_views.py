"""Adaptive practice for teachers: the class's mastery heatmap (students x skills) and who needs help
on what, each with a reason the teacher can check against the student's answers.

Routes live on the coach blueprint (teachers of the class and admins, `_own_classroom`); the figures
come from learn.tutor, which the student pages use too.
"""
from __future__ import annotations

from flask import render_template

from ..accounts import services as accounts
from ..learn import tutor
from .views import _own_classroom, bp

#: mastery bins, best first: (lowest percent, fill); each cell also shows its number
BINS = ((95, "#1e6b34"), (70, "#6fbf73"), (40, "#f2c14e"), (0, "#d9534f"))
NOT_PRACTISED = "#ffffff"
SWATCHES = tuple(fill for _lowest, fill in BINS) + (NOT_PRACTISED,)  # drawn once, <use>d by every cell


def swatch_of(cell) -> int:
    """The index in SWATCHES of a heatmap cell's colour."""
    if cell is None or cell.p is None:
        return len(BINS)
    return next(index for index, (lowest, _fill) in enumerate(BINS) if cell.percent >= lowest)


@bp.get("/class/<int:class_id>/mastery")
def mastery(class_id: int):
    room = _own_classroom(class_id)
    found = tutor.class_mastery(accounts.class_students(room))
    return render_template("coach/mastery.html", classroom=room, found=found, swatch_of=swatch_of, bins=BINS,
                           swatches=SWATCHES, reason_text=tutor.reason_text)
