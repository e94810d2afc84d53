"""The teacher's side: their classes, the sign-in mode and students' PINs or picture codes."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..accounts import services as accounts
from ..accounts.services import PICTURES, AccountError
from ..admin import audit
from ..db import database
from ..i18n import error_text
from ..models import SIGNIN_MODES, Classroom, StudentGroup, User, utcnow
from ..security import int_arg
from . import roster, services
from .blueprint import bp, own_classroom

def _home(status: int = 200, **extra):
    return render_template("coach/home.html", classes=services.visible_classrooms(g.user), modes=SIGNIN_MODES,
                           may_create=g.user.role == "admin" or services.teachers_may_create_classes(),
                           form=request.form, **extra), status


@bp.get("/")
def home():
    return _home()


@bp.post("/classes")
def create_class():
    form = request.form
    grade = form.get("grade", "").strip()
    try:
        if grade and not grade.isdigit():
            raise services.AssignmentError("a grade is from 0 to 12")
        with database.atomic():
            room = services.create_own_class(g.user, form.get("name", ""), int(grade) if grade else None,
                                             form.get("mode", "name"))
            audit.write("class.create", room.name, {"grade": room.grade, "signin_mode": room.signin_mode,
                                                    "teacher": g.user.display_name},
                        actor=g.user, ip=request.remote_addr)
    except (services.AssignmentError, AccountError) as exc:
        return _home(400, error=error_text(exc))
    flash(_("Class created: %(name)s. Add its students below.", name=room.name))
    return redirect(url_for("coach.classroom", class_id=room.id), 303)


def _class_page(room: Classroom, status: int = 200, **extra):
    return render_template(
        "coach/class.html", classroom=room, students=accounts.class_students(room),
        teachers=services.class_teachers(room), modes=SIGNIN_MODES, pictures=PICTURES,
        assignments=services.class_assignments(room), groups=roster.groups(room), now=utcnow(),
        move_to=[c for c in services.visible_classrooms(g.user) if c.id != room.id], **extra), status


@bp.get("/class/<int:class_id>")
def classroom(class_id: int):
    return _class_page(own_classroom(class_id))


@bp.post("/class/<int:class_id>/students")
def add_student(class_id: int):
    room = own_classroom(class_id)
    try:
        student, secret = roster.add_student(room, request.form.get("name", ""))
    except roster.RosterError as exc:
        return _class_page(room, 400, add_error=error_text(exc))
    if room.signin_mode == "pin":
        flash(_("%(name)s is in the class now. PIN: %(pin)s. Give it to the student.",
                name=student.display_name, pin=secret))
    elif room.signin_mode == "picture":
        flash(_("%(name)s is in the class now. Picture code: %(pictures)s. Give it to the student.",
                name=student.display_name, pictures=accounts.picture_symbols(secret)))
    else:
        flash(_("%(name)s is in the class now.", name=student.display_name))
    return redirect(url_for("coach.classroom", class_id=room.id), 303)


@bp.post("/class/<int:class_id>/students/import")
def import_students(class_id: int):
    room = own_classroom(class_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _class_page(room, 400, import_error=_("Choose a CSV file to import."))
    try:
        result = roster.import_students(room, upload.read(roster.MAX_IMPORT_BYTES + 1))
    except (roster.RosterError, AccountError) as exc:
        return _class_page(room, 400, import_error=error_text(exc))
    if result.problems:
        return _class_page(room, 400, import_problems=[
            (problem.line, error_text(roster.RosterError(problem.problem, **problem.params)))
            for problem in result.problems])
    flash(_("Students added: %(count)d.", count=len(result.added)))
    return redirect(url_for("coach.classroom", class_id=room.id), 303)


@bp.post("/class/<int:class_id>/groups")
def create_group(class_id: int):
    room = own_classroom(class_id)
    try:
        roster.create_group(room, request.form.get("name", ""))
    except roster.RosterError as exc:
        return _class_page(room, 400, group_error=error_text(exc))
    return redirect(url_for("coach.classroom", class_id=room.id, _anchor="groups-heading"), 303)


def _own_group(room: Classroom, group_id: int) -> StudentGroup:
    group = StudentGroup.get_or_none(StudentGroup.id == group_id, StudentGroup.classroom == room.id)
    return group or abort(404)


@bp.post("/class/<int:class_id>/group/<int:group_id>/members")
def group_members(class_id: int, group_id: int):
    room = own_classroom(class_id)
    group = _own_group(room, group_id)
    try:
        roster.set_members(group, room, [int(v) for v in request.form.getlist("student") if v.isdigit()])
    except roster.RosterError as exc:
        return _class_page(room, 400, group_error=error_text(exc))
    flash(_("Group %(name)s saved.", name=group.name))
    return redirect(url_for("coach.classroom", class_id=room.id, _anchor="groups-heading"), 303)


@bp.post("/class/<int:class_id>/group/<int:group_id>/delete")
def delete_group(class_id: int, group_id: int):
    room = own_classroom(class_id)
    group = _own_group(room, group_id)
    group.delete_instance(recursive=True)
    flash(_("Group %(name)s removed; its students stay in the class.", name=group.name))
    return redirect(url_for("coach.classroom", class_id=room.id, _anchor="groups-heading"), 303)


@bp.post("/class/<int:class_id>/signin-mode")
def signin_mode(class_id: int):
    room = own_classroom(class_id)
    mode = request.form.get("mode", "")
    if mode not in SIGNIN_MODES:
        abort(400, description=_("Choose one of the sign-in modes."))
    accounts.set_signin_mode(room, mode)
    flash(_("Sign-in mode saved."))
    return redirect(url_for("coach.classroom", class_id=room.id))


@bp.post("/class/<int:class_id>/student/<int:student_id>/secret")
def student_secret(class_id: int, student_id: int):
    room = own_classroom(class_id)
    student = User.get_or_none(User.id == student_id) or abort(404)
    if not accounts.is_student_of(student, room):
        abort(404)
    if room.signin_mode == "pin":
        secret = request.form.get("pin", "")
    else:
        secret = " ".join(request.form.get(f"picture{i}", "") for i in range(accounts.PICTURE_CODE_LENGTH))
    try:
        accounts.set_student_secret(student, room, secret)
    except AccountError:
        message = (_("A PIN is exactly 4 digits.") if room.signin_mode == "pin"
                   else _("Choose a picture in each of the three places."))
        flash(message)
        return redirect(url_for("coach.classroom", class_id=room.id))
    flash(_("New code saved for %(name)s.", name=student.display_name))
    return redirect(url_for("coach.classroom", class_id=room.id))


@bp.post("/class/<int:class_id>/student/<int:student_id>/move")
def move_student(class_id: int, student_id: int):
    room = own_classroom(class_id)
    student = User.get_or_none(User.id == student_id) or abort(404)
    target = own_classroom(int_arg("to", 0, values=request.form) or 0)
    try:
        roster.move_student(student, room, target, g.user)
    except roster.RosterError as exc:
        flash(error_text(exc))
        return redirect(url_for("coach.classroom", class_id=room.id))
    flash(_("%(name)s moved to class %(class_name)s.", name=student.display_name, class_name=target.name))
    return redirect(url_for("coach.classroom", class_id=room.id), 303)

