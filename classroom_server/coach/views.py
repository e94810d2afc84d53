"""The teacher's side: their classes, the sign-in mode and students' PINs or picture codes."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..accounts import services as accounts
from ..accounts.services import PICTURES, AccountError
from ..models import SIGNIN_MODES, Classroom, User
from ..security import roles_required
from . import services

bp = Blueprint("coach", __name__, url_prefix="/coach", template_folder="templates")
bp.before_request(roles_required("teacher", "admin"))


def _own_classroom(class_id: int) -> Classroom:
    classroom = Classroom.get_or_none(Classroom.id == class_id) or abort(404)
    if not services.can_manage(g.user, classroom):
        abort(403)
    return classroom


@bp.get("/")
def home():
    return render_template("coach/home.html", classes=services.visible_classrooms(g.user))


@bp.get("/class/<int:class_id>")
def classroom(class_id: int):
    room = _own_classroom(class_id)
    return render_template("coach/class.html", classroom=room, students=accounts.class_students(room),
                           teachers=services.class_teachers(room), modes=SIGNIN_MODES, pictures=PICTURES)


@bp.post("/class/<int:class_id>/signin-mode")
def signin_mode(class_id: int):
    room = _own_classroom(class_id)
    mode = request.form.get("mode", "")
    if mode not in SIGNIN_MODES:
        abort(400, description=_("Choose one of the sign-in modes."))
    if mode != room.signin_mode:
        Classroom.update(signin_mode=mode).where(Classroom.id == room.id).execute()
        # A PIN cannot be used as a picture code: students get new secrets from the teacher.
        students = [s.id for s in accounts.class_students(room)]
        User.update(secret_hash=None).where(User.id.in_(students)).execute()
    flash(_("Sign-in mode saved."))
    return redirect(url_for("coach.classroom", class_id=room.id))


@bp.post("/class/<int:class_id>/student/<int:student_id>/secret")
def student_secret(class_id: int, student_id: int):
    room = _own_classroom(class_id)
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
