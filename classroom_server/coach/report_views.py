"""Reports and exports for one class: the overview, a student, item analysis, engagement, printable
pages, the gradebook CSV and the class's learning records as xAPI statements.

Routes live on the coach blueprint (teachers of the class and admins, `own_classroom`); the figures
come from coach.reports, the charts from coach.charts.
"""
from __future__ import annotations

import datetime
import json

from flask import Response, current_app, render_template, request, stream_with_context
from flask_babel import format_date, get_timezone
from flask_babel import gettext as _

from ..i18n import interface_language
from ..models import utcnow
from . import charts, reports
from .blueprint import bp, own_classroom, report_helpers, status_names, student_of

#: colours of the three states, dark enough for white numbers on them (WCAG AA for large text)
STATUS_SERIES = (("done", "#1e6b34", "#ffffff"), ("in_progress", "#b8860b", "#1a1a1a"),
                 ("not_started", "#ffffff", "#1a1a1a"))
CHART_ASSIGNMENTS = 30  # the overview chart shows this many of the latest assignments
WHO_ASSIGNMENTS = 10  # the overview names the students of this many of the latest (unless asked for all)


def _school_zone() -> datetime.tzinfo:
    """The school's time zone (`[i18n] timezone`), as the pages show times."""
    return get_timezone()


def _overview_chart(overview: reports.Overview):
    latest = overview.assignments[-CHART_ASSIGNMENTS:]
    if not latest:
        return None
    names = status_names()
    series = [charts.Series(names[key], fill, ink, f"seg-{key.replace('_', '-')}") for key, fill, ink in STATUS_SERIES]
    rows = [(r.assignment.title, [r.counts[key] for key, _fill, _ink in STATUS_SERIES]) for r in latest]
    desc = "; ".join(_("%(title)s: %(done)d done, %(going)d in progress, %(none)d not started",
                       title=r.assignment.title, done=r.counts["done"], going=r.counts["in_progress"],
                       none=r.counts["not_started"]) for r in latest)
    return charts.stacked_bars(rows, series, _("Progress on each assignment, class %(name)s",
                                               name=overview.classroom.name), desc)


@bp.get("/class/<int:class_id>/report")
def class_report(class_id: int):
    room = own_classroom(class_id)
    overview = reports.class_overview(room)
    return render_template("coach/report_class.html", classroom=room, overview=overview,
                           chart=_overview_chart(overview), chart_limit=CHART_ASSIGNMENTS,
                           who_limit=WHO_ASSIGNMENTS, show_all=request.args.get("all") == "1", **report_helpers())


@bp.get("/class/<int:class_id>/report/print")
def class_report_print(class_id: int):
    room = own_classroom(class_id)
    overview = reports.class_overview(room)
    return render_template("coach/report_class_print.html", classroom=room, overview=overview,
                           chart=_overview_chart(overview), chart_limit=CHART_ASSIGNMENTS,
                           who_limit=WHO_ASSIGNMENTS, show_all=True, today=utcnow(), **report_helpers())


def _student_page(template: str, class_id: int, student_id: int, timeline: int):
    room = own_classroom(class_id)
    student = student_of(room, student_id)
    report = reports.student_report(room, student, _school_zone(), timeline=timeline, language=interface_language())
    return render_template(template, classroom=room, student=student, report=report, today=utcnow(),
                           **report_helpers())


@bp.get("/class/<int:class_id>/student/<int:student_id>/report")
def student_report(class_id: int, student_id: int):
    return _student_page("coach/report_student.html", class_id, student_id, reports.TIMELINE_RECORDS)


@bp.get("/class/<int:class_id>/student/<int:student_id>/report/print")
def student_report_print(class_id: int, student_id: int):
    return _student_page("coach/report_student_print.html", class_id, student_id, 50)


@bp.get("/class/<int:class_id>/items")
def item_analysis(class_id: int):
    room = own_classroom(class_id)
    period = request.args.get("days", "")
    days = int(period) if period.isdigit() and int(period) in reports.ITEM_PERIODS else None
    items, answered = reports.item_analysis(room, interface_language(), days=days)
    return render_template("coach/report_items.html", classroom=room, items=items, answered=answered, days=days,
                           periods=reports.ITEM_PERIODS, **report_helpers())


@bp.get("/class/<int:class_id>/engagement")
def engagement(class_id: int):
    room = own_classroom(class_id)
    found = reports.engagement(room, _school_zone())
    labels = [format_date(d.day, "d MMM") for d in found.days]
    active_chart = charts.column_chart(
        [(label, d.active) for label, d in zip(labels, found.days)],
        _("Active students per day, last %(days)d days", days=len(found.days)),
        "; ".join(_("%(day)s: %(count)d", day=label, count=d.active) for label, d in zip(labels, found.days)),
        top=found.student_count, label_every=5)
    minutes_chart = charts.column_chart(
        [(label, round(d.seconds / 60)) for label, d in zip(labels, found.days)],
        _("Time on task per day in minutes, last %(days)d days", days=len(found.days)),
        "; ".join(_("%(day)s: %(minutes)d min", day=label, minutes=round(d.seconds / 60))
                  for label, d in zip(labels, found.days)),
        fill="#1e6b34", label_every=5)
    return render_template("coach/report_engagement.html", classroom=room, found=found, active_chart=active_chart,
                           minutes_chart=minutes_chart, **report_helpers())


@bp.get("/class/<int:class_id>/gradebook.csv")
def gradebook(class_id: int):
    room = own_classroom(class_id)
    overview = reports.class_overview(room)
    labels = {"student": _("Student"), "quiz": _("%(title)s (quiz, %%)"), "done": _("%(done)d of %(total)d"),
              "not_handed_in": _("not handed in"), "not_assigned": _("not assigned")}
    # Semicolons by default: Excel set up for Kazakhstan (kk-KZ, ru-KZ) separates list items with them.
    delimiter = "," if request.args.get("sep") == "comma" else ";"
    body = reports.csv_bytes(reports.gradebook_rows(overview, labels), delimiter)
    today = current_app.config["CLASSROOM_SETTINGS"].school_now().date().isoformat()  # the school's date
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = reports.attachment(
        f"gradebook-{room.name}-{today}.csv", f"gradebook-class-{room.id}-{today}.csv")
    return response


@bp.get("/class/<int:class_id>/records.json")
def records_export(class_id: int):
    """The class's learning records as an xAPI StatementResult, streamed batch by batch."""
    room = own_classroom(class_id)
    school_id, platform = reports.xapi_identity(current_app.config["CLASSROOM_SETTINGS"].sync_platform_iri)

    def body():
        yield '{"statements": ['
        for index, statement in enumerate(reports.statements(room, school_id, platform)):
            yield ("," if index else "") + "\n" + json.dumps(statement, ensure_ascii=False, separators=(",", ":"))
        yield '\n], "more": ""}\n'

    response = Response(stream_with_context(body()), mimetype="application/json")
    response.headers["Content-Disposition"] = reports.attachment(
        f"records-{room.name}.json", f"records-class-{room.id}.json")
    response.headers["X-Experience-API-Version"] = "1.0.3"
    return response
