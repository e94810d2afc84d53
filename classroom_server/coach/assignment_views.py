"""The teacher's assignments: pick from the library, give to a class, a group or some students,
then reorder, edit, close, copy to another class; quizzes with their rules and own questions."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..accounts import services as accounts
from ..content import school_files
from ..content import services as content
from ..i18n import LANGUAGES, error_text
from ..learn import tutor
from ..models import Assignment, Classroom, User, utcnow
from ..security import DB_INT_MAX
from . import assign, reports, roster, services
from .blueprint import bp, own_classroom, report_helpers, student_of


def _own_assignment(assignment_id: str) -> tuple[Assignment, Classroom]:
    found = Assignment.get_or_none(Assignment.id == assignment_id) or abort(404)
    return found, own_classroom(found.classroom_id)


def _changeable(assignment_id: str) -> tuple[Assignment, Classroom]:
    """An assignment the teacher may change: not one the national platform sent (docs/rosters.md)."""
    found, room = _own_assignment(assignment_id)
    if found.national_id:
        abort(403, description=_("This assignment was sent by the national platform: it cannot be changed "
                                 "here. You can see its results and copy it."))
    return found, room


def _open_quiz_parts(assignment_id: str) -> tuple[Assignment, Classroom]:
    """An assignment whose questions may change: a closed quiz keeps the questions it was answered with."""
    found, room = _changeable(assignment_id)
    if found.kind == "quiz" and found.closed_at is not None and found.closed_at <= utcnow():
        abort(409, description=_("This quiz is closed: its questions stay as the students answered them. "
                                 "Open it again to change them, or copy it."))
    return found, room


@bp.context_processor
def _due_choices() -> dict:
    return {"due_tomorrow": assign.tomorrow_input()}


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        number = int(value) if value not in (None, "") else default
    except ValueError:
        number = DB_INT_MAX + 1
    if number is not None and abs(number) > DB_INT_MAX:  # a database integer holds no more
        raise assign.PickError("%(value)s is not a whole number", value=value)
    return number


def _float(value: str | None, default: float) -> float:
    try:
        return float(value.replace(",", ".")) if value else default
    except ValueError:
        raise assign.PickError("%(value)s is not a number", value=value) from None


def _students(room: Classroom, form) -> list[User]:
    """Who it is for, from the form: the whole class (empty list), groups, or ticked students."""
    to = form.get("to", "class")
    if to == "groups":
        chosen = roster.group_students(room, [int(v) for v in form.getlist("group") if v.isdigit()])
        if not chosen:
            raise assign.PickError("choose a group that has students")
        return chosen
    if to == "students":
        ids = {int(v) for v in form.getlist("student") if v.isdigit()}
        chosen = [s for s in accounts.class_students(room) if s.id in ids]
        if not chosen or len(chosen) != len(ids):
            raise assign.PickError("tick the students of this class it is for")
        return chosen
    return []


def _quiz_rules(form) -> dict:
    return {"time_limit_minutes": _int(form.get("time_limit")), "attempts": _int(form.get("attempts"), 1),
            "results": form.get("results", "submitted")}


def _picker(room: Classroom, kind: str, status: int = 200, error: str | None = None):
    query = request.values.get("q", "").strip()
    only = None
    if query:
        hits = content.search(query, limit=200).hits
        only = {(hit.pack_id, hit.node_id) for hit in hits}
    skills = assign.skills()
    return render_template(
        "coach/assign.html", classroom=room, kind=kind, trees=assign.library(kind == "quiz", only), query=query,
        groups=roster.groups(room), students=accounts.class_students(room), skills=skills,
        skill_names=tutor.library().skill_names(skills), form=request.form, error=error,
        languages=LANGUAGES), status


@bp.get("/class/<int:class_id>/assign")
def new_assignment(class_id: int):
    room = own_classroom(class_id)
    kind = request.args.get("kind", "work")
    if kind not in ("work", "quiz"):
        abort(404)
    return _picker(room, kind)


@bp.post("/class/<int:class_id>/assign")
def create_assignment(class_id: int):
    room = own_classroom(class_id)
    kind = request.form.get("kind", "work")
    if kind not in ("work", "quiz"):
        abort(400)
    form = request.form
    try:
        parts: list = assign.parse_parts(form.getlist("part"), kind == "quiz")
        if kind == "quiz":
            if form.get("draw_skill"):
                parts += [p for p in assign.draw(form["draw_skill"], _int(form.get("draw_count"), 5),
                                                 _float(form.get("draw_easiest"), -4),
                                                 _float(form.get("draw_hardest"), 4)) if p not in parts]
            if form.get("prompt", "").strip():
                parts.append(assign.own_item(form, form.get("language") if form.get("language") in LANGUAGES
                                             else "kk"))
        created = services.create_assignment(
            room, g.user, form.get("title", ""), parts, kind=kind, students=_students(room, form),
            starts_at=assign.school_time(form.get("starts_at")), due_at=assign.school_time(form.get("due_at")),
            **(_quiz_rules(form) if kind == "quiz" else {}))
    except (assign.PickError, services.AssignmentError, roster.RosterError) as exc:
        return _picker(room, kind, 400, error_text(exc))
    flash(_("Assigned: %(title)s.", title=created.title))
    return redirect(url_for("coach.assignment", assignment_id=created.id), 303)


@bp.get("/assignment/<assignment_id>")
def assignment(assignment_id: str, status: int = 200, error: str | None = None):
    found, room = _own_assignment(assignment_id)
    rows = services.parts(found)
    titles = assign.part_titles(rows)
    [results] = reports.class_overview(room, only=found).assignments
    return render_template(
        "coach/assignment.html", assignment=found, classroom=room, parts=rows, titles=titles,
        targets=services.targets(found), groups=roster.groups(room), students=accounts.class_students(room),
        other_classes=[c for c in services.visible_classrooms(g.user) if c.id != room.id],
        starts_at=assign.local_input(found.starts_at), due_at=assign.local_input(found.due_at),
        is_open=found.closed_at is None or found.closed_at > utcnow(), results=results,
        tries_used=services.tries_used(found) if found.kind == "quiz" else {},
        tries_allowed=services.tries_allowed(found), comments=services.comments(found), **report_helpers(),
        error=error, languages=LANGUAGES, form=request.form, pictures=school_files.pictures_of(found),
        files_used=school_files.teacher_usage(g.user), max_picture_mb=school_files.MAX_PICTURE_BYTES // school_files.MiB), \
        status


def _back(found: Assignment):
    return redirect(url_for("coach.assignment", assignment_id=found.id), 303)


def _failed(found: Assignment, exc: Exception):
    return assignment(found.id, 400, error_text(exc))


@bp.post("/assignment/<assignment_id>/edit")
def edit_assignment(assignment_id: str):
    found, room = _changeable(assignment_id)
    form = request.form
    try:
        services.update_assignment(found, form.get("title", ""), assign.school_time(form.get("starts_at")),
                                   assign.school_time(form.get("due_at")),
                                   **(_quiz_rules(form) if found.kind == "quiz" else {}))
    except (assign.PickError, services.AssignmentError) as exc:
        return _failed(found, exc)
    flash(_("Saved."))
    return _back(found)


@bp.post("/assignment/<assignment_id>/targets")
def assignment_targets(assignment_id: str):
    found, room = _changeable(assignment_id)
    try:
        services.set_targets(found, _students(room, request.form))
    except (assign.PickError, services.AssignmentError, roster.RosterError) as exc:
        return _failed(found, exc)
    flash(_("Saved."))
    return _back(found)


@bp.post("/assignment/<assignment_id>/part/<int:part_id>/<action>")
def assignment_part(assignment_id: str, part_id: int, action: str):
    found, _room = _open_quiz_parts(assignment_id)
    try:
        if action in ("up", "down"):
            services.move_part(found, part_id, -1 if action == "up" else 1)
        elif action == "remove":
            services.remove_part(found, part_id)
        else:
            abort(404)
    except services.AssignmentError as exc:
        return _failed(found, exc)
    return _back(found)


@bp.post("/assignment/<assignment_id>/own")
def add_own_question(assignment_id: str):
    found, _room = _open_quiz_parts(assignment_id)
    if found.kind != "quiz":
        abort(404)
    language = request.form.get("language") if request.form.get("language") in LANGUAGES else "kk"
    try:
        services.add_parts(found, [assign.own_item(request.form, language)])
    except (assign.PickError, services.AssignmentError) as exc:
        return _failed(found, exc)
    flash(_("Question added."))
    return _back(found)


@bp.post("/assignment/<assignment_id>/<action>")
def assignment_action(assignment_id: str, action: str):
    found, room = _changeable(assignment_id) if action in ("close", "reopen") else _own_assignment(assignment_id)
    if action == "close":
        services.close_assignment(found)
        flash(_("Closed: students can no longer answer it."))
    elif action == "reopen":
        services.reopen_assignment(found)
        flash(_("Open again."))
    elif action == "release" and found.kind == "quiz":
        services.release_results(found)
        flash(_("Results released: students see their scores and the right answers."))
    elif action == "copy":
        target = Classroom.get_or_none(Classroom.id == _int(request.form.get("class_id"), 0)) or abort(404)
        if not services.can_manage(g.user, target):
            abort(403)
        same = target.id == room.id
        try:
            copy = services.copy_assignment(found, target, g.user,
                                            title=_("%(title)s (copy)", title=found.title)[:200] if same else None)
        except services.AssignmentError as exc:
            return _failed(found, exc)
        left_out = school_files.copy_pictures(found, copy, g.user, _data_dir())
        flash(_("Copied. Change what differs (title, dates, for whom) and save.") if same
              else _("Copied to class %(name)s.", name=target.name))
        if left_out:
            flash(_("%(count)d picture(s) were not copied: they would pass the quota for school files.",
                    count=left_out))
        return redirect(url_for("coach.assignment", assignment_id=copy.id), 303)
    else:
        abort(404)
    return _back(found)


@bp.post("/assignment/<assignment_id>/student/<int:student_id>/another-try")
def another_try(assignment_id: str, student_id: int):
    found, room = _own_assignment(assignment_id)
    student = student_of(room, student_id)
    try:
        allowed = services.give_another_try(found, student, g.user)
    except services.AssignmentError as exc:
        return _failed(found, exc)
    flash(_("%(name)s may try again: %(count)d tries in all.", name=student.display_name, count=allowed))
    return redirect(url_for("coach.assignment", assignment_id=found.id, _anchor="results-heading"), 303)


@bp.post("/assignment/<assignment_id>/student/<int:student_id>/comment")
def comment(assignment_id: str, student_id: int):
    found, room = _own_assignment(assignment_id)
    student = student_of(room, student_id)
    try:
        services.add_comment(found, student, g.user, request.form.get("text", ""))
    except services.AssignmentError as exc:
        return _failed(found, exc)
    flash(_("Comment sent to %(name)s: they see it on this assignment's page.", name=student.display_name))
    return redirect(url_for("coach.assignment", assignment_id=found.id, _anchor="results-heading"), 303)


# --- pictures for the instructions (the school's own files, content.school_files) ---------------------

def _data_dir():
    return current_app.config["CLASSROOM_SETTINGS"].data_dir


@bp.post("/assignment/<assignment_id>/pictures")
def add_picture(assignment_id: str):
    found, _room = _changeable(assignment_id)
    upload = request.files.get("picture")
    if upload is None or not upload.filename:
        return assignment(found.id, 400, _("Choose a picture to attach (PNG, JPEG or WebP)."))
    data = upload.stream.read(school_files.MAX_PICTURE_BYTES + 1)
    try:
        school_files.add_picture(g.user, found, data, request.form.get("alt", ""), _data_dir())
    except school_files.SchoolFileError as exc:
        return _failed(found, exc)
    flash(_("The picture is attached: the students of the assignment see it with its instructions."))
    return redirect(url_for("coach.assignment", assignment_id=found.id) + "#pictures-heading", 303)


@bp.post("/assignment/<assignment_id>/picture/<int:file_id>/remove")
def remove_picture(assignment_id: str, file_id: int):
    found, _room = _changeable(assignment_id)
    row = school_files.picture_of(found, file_id) or abort(404)
    school_files.remove_picture(row, _data_dir())
    flash(_("The picture is removed."))
    return redirect(url_for("coach.assignment", assignment_id=found.id) + "#pictures-heading", 303)


@bp.get("/assignment/<assignment_id>/picture/<int:file_id>")
def picture(assignment_id: str, file_id: int):
    found, _room = _own_assignment(assignment_id)
    return school_files.send(school_files.picture_of(found, file_id) or abort(404), _data_dir())
