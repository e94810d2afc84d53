"""The coach blueprint and what its view files share: who may open a class or a student of it, and
how report pages write numbers, durations and days.

The view files (views, assignment_views, report_views, mastery_views) import this module and add
their routes to `bp`; this module imports none of them. `app.create_app` imports them all.
"""
from __future__ import annotations

import datetime

from flask import Blueprint, abort, g
from flask_babel import format_date, format_percent
from flask_babel import gettext as _

from ..accounts import services as accounts
from ..models import Classroom, User
from ..security import roles_required
from . import services

bp = Blueprint("coach", __name__, url_prefix="/coach", template_folder="templates")
bp.before_request(roles_required("teacher", "admin"))


def own_classroom(class_id: int) -> Classroom:
    """The class, if the signed-in teacher may manage it (else 404 or 403)."""
    classroom = Classroom.get_or_none(Classroom.id == class_id) or abort(404)
    if not services.can_manage(g.user, classroom):
        abort(403)
    return classroom


def student_of(room: Classroom, student_id: int) -> User:
    """A student of this class (else 404: a teacher learns nothing about other classes' students)."""
    student = User.get_or_none(User.id == student_id) or abort(404)
    if not accounts.is_student_of(student, room):
        abort(404)
    return student


def _pct(value: float | None) -> str:
    return "—" if value is None else format_percent(value)


def _duration(seconds: int | None) -> str:
    """Time on task as a teacher reads it: minutes, or hours and minutes."""
    seconds = seconds or 0
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(minutes)d min", minutes=minutes)
    return _("%(hours)d h %(minutes)d min", hours=minutes // 60, minutes=minutes % 60)


def status_names() -> dict[str, str]:
    return {"done": _("Done"), "in_progress": _("In progress"), "not_started": _("Not started")}


def _day(value: datetime.date) -> str:
    return format_date(value, "EEE d MMM")


def report_helpers() -> dict:
    """What report templates use to write figures: pct, duration, status_names, day."""
    return {"pct": _pct, "duration": _duration, "status_names": status_names(), "day": _day}
