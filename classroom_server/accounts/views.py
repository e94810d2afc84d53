"""Sign-in for staff (username and password) and for children (class, name, PIN or picture code)."""
from __future__ import annotations

from flask import (Blueprint, abort, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _

from .. import security
from ..models import Classroom, User
from ..i18n import error_text
from ..settings import LANGUAGES
from . import services
from .services import PICTURES, AccountError, Deactivated, Limits, RateLimited

bp = Blueprint("accounts", __name__, template_folder="templates")


def DEACTIVATED() -> str:  # noqa: N802 (a message, translated when shown)
    return _("This account is deactivated, so it cannot sign in. Ask the school's administrator to "
             "reactivate it.")


def _limits() -> Limits:
    return Limits.of(security.settings())


def _rate_limited(exc: RateLimited, template: str, **context):
    message = _("Too many wrong attempts. Wait %(minutes)d minutes and try again, or ask your teacher.",
                minutes=exc.minutes)
    return render_template(template, error=message, **context), 429


def _after_signin(user: User):
    security.sign_in(user)
    target = security.safe_next(request.form.get("next") or request.args.get("next"))
    return redirect(target or url_for(security.role_home(user)))


@bp.get("/")
def index():
    if g.user is None:
        return redirect(url_for("accounts.signin"))
    return redirect(url_for(security.role_home(g.user)))


@bp.get("/signin")
def signin():
    if not services.admin_exists():
        return redirect(url_for("accounts.setup"))
    if g.user is not None:
        return redirect(url_for(security.role_home(g.user)))
    classes = Classroom.select().order_by(Classroom.grade, Classroom.name)
    return render_template("accounts/signin.html", classes=classes, next=request.args.get("next", ""))


@bp.post("/signin/staff")
def staff_signin():
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    context = {"classes": Classroom.select().order_by(Classroom.grade, Classroom.name),
               "next": request.form.get("next", ""), "username": username}
    try:
        user = services.authenticate_staff(username, password, request.remote_addr or "-", _limits())
    except RateLimited as exc:
        return _rate_limited(exc, "accounts/signin.html", **context)
    except Deactivated:
        return render_template("accounts/signin.html", error=DEACTIVATED(), **context), 403
    if user is None:
        return render_template("accounts/signin.html",
                               error=_("Wrong username or password. Check them and try again."),
                               **context), 401
    return _after_signin(user)


@bp.get("/signin/class/<int:class_id>")
def student_class(class_id: int):
    classroom = Classroom.get_or_none(Classroom.id == class_id) or abort(404)
    return render_template("accounts/class.html", classroom=classroom,
                           students=services.class_students(classroom),
                           next=request.args.get("next", ""))


@bp.route("/signin/class/<int:class_id>/student/<int:student_id>", methods=["GET", "POST"])
def student_secret(class_id: int, student_id: int):
    classroom = Classroom.get_or_none(Classroom.id == class_id) or abort(404)
    student = User.get_or_none(User.id == student_id, User.role == "student") or abort(404)
    if not services.is_student_of(student, classroom):
        abort(404)
    if not student.is_active:  # an old bookmark or a shared tablet's history: say why, not "not found"
        return render_template("accounts/class.html", classroom=classroom, error=DEACTIVATED(),
                               students=services.class_students(classroom), next=""), 403
    if classroom.signin_mode == "name":
        if request.method == "POST":
            return _after_signin(student)
        return redirect(url_for("accounts.student_class", class_id=class_id))
    context = {"classroom": classroom, "student": student, "pictures": PICTURES,
               "code_length": services.PICTURE_CODE_LENGTH, "next": request.values.get("next", "")}
    if request.method == "GET":
        return render_template("accounts/secret.html", **context)
    if classroom.signin_mode == "pin":
        secret = request.form.get("pin", "")
    else:
        secret = "-".join(request.form.get(f"picture{i}", "") for i in range(services.PICTURE_CODE_LENGTH))
    try:
        ok = services.authenticate_student(student, classroom, secret, request.remote_addr or "-", _limits())
    except RateLimited as exc:
        return _rate_limited(exc, "accounts/secret.html", **context)
    if not ok:
        error = (_("That PIN is not right. Try again.") if classroom.signin_mode == "pin"
                 else _("Those pictures are not right. Try again."))
        return render_template("accounts/secret.html", error=error, **context), 401
    return _after_signin(student)


@bp.post("/signout")
def signout():
    security.sign_out()
    return redirect(url_for("accounts.signin"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First run: create the first admin. Gone once an admin exists."""
    if services.admin_exists():
        abort(404)
    if request.method == "GET":
        return render_template("accounts/setup.html")
    form = request.form
    error = None
    if form.get("password", "") != form.get("password2", ""):
        error = _("The two passwords differ. Type the same password twice.")
    else:
        try:
            user = services.create_user(form.get("username", ""), form.get("display_name", ""), "admin",
                                        form.get("password", ""))
        except AccountError as exc:
            error = _("Could not create the account: %(reason)s", reason=error_text(exc))
        else:
            if form.get("school_name", "").strip():
                services.put_setting("school_name", form["school_name"].strip()[:120])
            flash(_("The admin account is ready."))
            return _after_signin(user)
    return render_template("accounts/setup.html", error=error, form=form), 400


@bp.post("/language")
def set_language():
    language = request.form.get("language", "")
    if language in LANGUAGES:
        session["lang"] = language
        if g.user is not None:
            User.update(language=language).where(User.id == g.user.id).execute()
    return redirect(security.safe_next(request.form.get("next")) or url_for("accounts.index"))


@bp.get("/account")
def account():
    return render_template("accounts/account.html")


@bp.post("/account/password")
def change_password():
    if g.user.role == "student":
        abort(403)
    form = request.form
    if not services.password_matches(g.user, form.get("current", "")):
        return render_template("accounts/account.html", error=_("Your current password is not right.")), 400
    if form.get("password", "") != form.get("password2", ""):
        return render_template("accounts/account.html",
                               error=_("The two passwords differ. Type the same password twice.")), 400
    try:
        services.set_password(g.user, form.get("password", ""))
    except AccountError as exc:
        return render_template("accounts/account.html", error=error_text(exc)), 400
    security.sign_in(User.get_by_id(g.user.id))
    flash(_("Your password is changed."))
    return redirect(url_for("accounts.account"))
