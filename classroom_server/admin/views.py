"""The school IT person's pages: people, classes, CSV import."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..accounts import services as accounts
from ..accounts.services import AccountError
from ..coach.services import visible_classrooms
from ..i18n import error_text
from ..models import ROLES, SIGNIN_MODES, Classroom, User
from ..security import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
bp.before_request(roles_required("admin"))

PAGE_SIZE = 100


def _page(error: str | None = None, report=None, status: int = 200):
    role = request.args.get("role") if request.args.get("role") in ROLES else None
    page = max(1, request.args.get("page", 1, type=int))
    users = User.select().order_by(User.role, User.display_name)
    if role:
        users = users.where(User.role == role)
    total = users.count()
    return render_template("admin/home.html", users=users.paginate(page, PAGE_SIZE), total=total,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)), role=role, roles=ROLES,
                           classes=visible_classrooms(User(role="admin")), modes=SIGNIN_MODES,
                           teachers=User.select().where(User.role == "teacher").order_by(User.display_name),
                           error=error, report=report), status


@bp.get("/")
def home():
    return _page()


@bp.post("/users")
def create_user():
    form = request.form
    try:
        user = accounts.create_user(form.get("username") or None, form.get("display_name", ""),
                                    form.get("role", ""), form.get("password") or None)
        class_id = form.get("classroom", type=int)
        if class_id:
            accounts.enrol(user, Classroom.get_or_none(Classroom.id == class_id) or abort(400))
    except AccountError as exc:
        return _page(error=_("Could not create the account: %(reason)s", reason=error_text(exc)), status=400)
    flash(_("Account created: %(name)s", name=user.display_name))
    return redirect(url_for("admin.home"))


@bp.post("/classes")
def create_class():
    form = request.form
    try:
        grade = form.get("grade", type=int)
        room = accounts.create_classroom(form.get("name", ""), grade, form.get("mode", "name"))
        teacher_id = form.get("teacher", type=int)
        if teacher_id:
            teacher = User.get_or_none(User.id == teacher_id, User.role == "teacher") or abort(400)
            accounts.enrol(teacher, room)
    except AccountError as exc:
        return _page(error=_("Could not create the class: %(reason)s", reason=error_text(exc)), status=400)
    flash(_("Class created: %(name)s", name=room.name))
    return redirect(url_for("admin.home"))


@bp.post("/users/import")
def import_users():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(error=_("Choose a CSV file to import."), status=400)
    try:
        report = accounts.import_users(upload.read(), dry_run=bool(request.form.get("dry_run")))
    except AccountError as exc:
        return _page(error=_("The file cannot be imported: %(reason)s", reason=error_text(exc)), status=400)
    return _page(report=report)
