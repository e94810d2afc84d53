"""The school IT person's pages: the device, people, classes, content, sync, backups, settings, the
recent events and the audit log. Every change made here writes an audit row (admin/audit.py)."""
from __future__ import annotations

import datetime
import logging
import secrets

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import format_decimal, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from markupsafe import Markup, escape
from peewee import OperationalError as PeeweeOperationalError
from werkzeug.security import safe_join

from content_packs.manifest import InvalidPack
from content_packs.signing import SignatureError
from content_packs.reader import iter_sources

from ..accounts import services as accounts
from ..collation import NAMES
from ..content import school_files
from ..content import services as content
from ..accounts.services import AccountError
from ..coach import services as coach_services
from ..coach.services import visible_classrooms
from ..db import database, is_sqlite
from ..i18n import error_text
from ..models import ROLES, SIGNIN_MODES, Classroom, ContentPack, Membership, SyncLog, SyncRequest, User, utcnow
from ..security import int_arg, page_arg, roles_required
from ..settings import OPTIONS, SettingsError, change_settings, hour_windows, load_settings, origins, shown_value
from . import audit, backup, device, enrol, https, users
from .sync import START_AGENT, agent_alive, downloads, next_window_start, request_sync, sync_overdue, sync_status, updates_waiting

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
bp.before_request(roles_required("admin"))

PAGE_SIZE = 100

#: what each audit action is called on the pages
ACTION_LABELS = {
    "user.create": lazy_gettext("Account created"), "user.import": lazy_gettext("People imported from a CSV file"),
    "user.password_reset": lazy_gettext("Password reset"),
    "user.secret_reset": lazy_gettext("PIN or picture code reset"), "user.deactivate": lazy_gettext("Account deactivated"),
    "user.reactivate": lazy_gettext("Account reactivated"), "user.unlock": lazy_gettext("Sign-in unlocked"),
    "class.create": lazy_gettext("Class created"), "class.teacher": lazy_gettext("Teacher given to a class"),
    "user.classes_handed_over": lazy_gettext("Classes handed to another teacher"),
    "content.import": lazy_gettext("Content imported"), "content.remove": lazy_gettext("Content pack removed"),
    "sync.now": lazy_gettext("Sync asked for"), "sync.enrol": lazy_gettext("Enrolment with the national platform"), "settings.change": lazy_gettext("Settings changed"),
    "backup.make": lazy_gettext("Backup made"), "backup.download": lazy_gettext("Backup downloaded"),
    "backup.delete": lazy_gettext("Backup removed"),
    "backup.restore": lazy_gettext("Restore asked for"), "backup.restore_cancel": lazy_gettext("Restore called off"), "backup.nightly": lazy_gettext("Nightly backup"),
}


def _settings():
    return current_app.config["CLASSROOM_SETTINGS"]


def _audit(action: str, target: str | None = None, **details) -> None:
    """One audit row for what the signed-in administrator just did (inside the action's transaction)."""
    audit.write(action, target, details, actor=g.user, ip=request.remote_addr)


def _audit_after(action: str, target: str | None = None, **details) -> None:
    """An audit row for something already done that must not be undone if the row cannot be written:
    removing a backup or a pack frees disk space, which matters most when the disk is full."""
    try:
        with database.atomic():
            _audit(action, target, **details)
    except PeeweeOperationalError as exc:
        log.error("cannot write the audit row for %s %s: %s", action, target, exc)


@bp.app_template_filter("breakable")
def breakable(text: object) -> Markup:
    """Paths, keys and commands that may wrap on a phone: a line may break after / , - _ = and
    within long runs (<wbr>, which copying the text leaves out)."""
    pieces, run = [], ""
    for char in str(text):
        run += char
        if char in "/,-_=" or len(run) >= 16:
            pieces.append(run)
            run = ""
    pieces.append(run)
    return Markup("<wbr>").join(escape(piece) for piece in pieces)


@bp.context_processor
def _admin_globals() -> dict:
    return {"disk_state": device.disk(_settings().data_dir), "number": format_decimal, "size": _size,
            "action_labels": ACTION_LABELS, "duration": _duration}


def _page(error: str | None = None, report=None, status: int = 200):
    role = request.args.get("role") if request.args.get("role") in ROLES else None
    query = request.args.get("q", "").strip()[:64]
    page = page_arg()
    people, total = users.people(role, query, page, PAGE_SIZE)
    return render_template("admin/home.html", people=people, total=total, query=query,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)), role=role, roles=ROLES,
                           classes=visible_classrooms(User(role="admin")), modes=SIGNIN_MODES,
                           teachers=users.active_teachers(), orphans=users.classes_without_teacher(),
                           error=error, report=report, device=device.device(_settings()),
                           files=school_files.school_usage(), file_count=school_files.file_count(),
                           **_sync_panel()), status


@bp.get("/")
def home():
    return _page()


@bp.post("/users")
def create_user():
    form = request.form
    try:
        with database.atomic():
            user = accounts.create_user(form.get("username") or None, form.get("display_name", ""),
                                        form.get("role", ""), form.get("password") or None)
            class_id = int_arg("classroom", values=form)
            room = (Classroom.get_or_none(Classroom.id == class_id) or abort(400)) if class_id else None
            if room is not None:
                accounts.enrol(user, room)
            _audit("user.create", user.display_name, user_id=user.id, username=user.username, role=user.role,
                   classroom=room.name if room else None)
    except AccountError as exc:
        return _page(error=_("Could not create the account: %(reason)s", reason=error_text(exc)), status=400)
    flash(_("Account created: %(name)s", name=user.display_name))
    return redirect(url_for("admin.home"))


@bp.post("/classes")
def create_class():
    form = request.form
    try:
        with database.atomic():
            grade = int_arg("grade", values=form)
            room = accounts.create_classroom(form.get("name", ""), grade, form.get("mode", "name"))
            teacher_id = int_arg("teacher", values=form)
            teacher = None
            if teacher_id:
                teacher = User.get_or_none(User.id == teacher_id, User.role == "teacher") or abort(400)
                accounts.enrol(teacher, room)
            _audit("class.create", room.name, grade=grade, signin_mode=room.signin_mode,
                   teacher=teacher.display_name if teacher else None)
    except AccountError as exc:
        return _page(error=_("Could not create the class: %(reason)s", reason=error_text(exc)), status=400)
    flash(_("Class created: %(name)s", name=room.name))
    return redirect(url_for("admin.home"))


@bp.post("/users/import")
def import_users():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(error=_("Choose a CSV file to import."), status=400)
    dry_run = bool(request.form.get("dry_run"))
    try:
        if dry_run:
            report = accounts.import_users(upload.read(), dry_run=True)
        else:
            with database.atomic():
                report = accounts.import_users(upload.read())
                _audit("user.import", upload.filename, created=len(report.created), rejected=len(report.rejected),
                       classes_created=report.classes_created)
    except AccountError as exc:
        return _page(error=_("The file cannot be imported: %(reason)s", reason=error_text(exc)), status=400)
    return _page(report=report)


# --- One person ------------------------------------------------------------------------------------

def _user_page(user: User, password: str | None = None, error: str | None = None, status: int = 200,
               secret: tuple[Classroom, str] | None = None):
    rooms = list(Classroom.select().join(Membership).where(Membership.user == user.id)
                 .order_by(Classroom.grade, Classroom.name))
    return render_template("admin/user.html", person=user, classes=[room.name for room in rooms],
                           taught=users.taught_classes(user) if user.role == "teacher" else [],
                           successors=users.active_teachers(but=user) if user.role == "teacher" else [],
                           secret_class=next((room for room in rooms if room.signin_mode != "name"), None),
                           secret=secret, pictures=accounts.picture_symbols, records=users.records_of(user),
                           password=password, error=error,
                           lockouts=accounts.lockouts(user, accounts.Limits.of(_settings()))), status


def _user_or_404(user_id: int) -> User:
    return User.get_or_none(User.id == user_id) or abort(404)


@bp.get("/users/<int:user_id>")
def user_page(user_id: int):
    return _user_page(_user_or_404(user_id))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    user = _user_or_404(user_id)
    typed = request.form.get("password", "")
    try:
        with database.atomic():
            password = users.reset_password(g.user, user, typed or None)
            _audit("user.password_reset", user.display_name, user_id=user.id, username=user.username,
                   typed=bool(typed))
    except AccountError as exc:
        return _user_page(user, error=_("The password was not changed: %(reason)s", reason=error_text(exc)),
                          status=400)
    # Shown on this answer only (never put in the session cookie, which is signed but readable).
    return _user_page(_user_or_404(user_id), password=password if not typed else None)


@bp.post("/users/<int:user_id>/secret")
def reset_secret(user_id: int):
    """A student forgot their PIN or picture code: a new one, shown once to hand over."""
    user = _user_or_404(user_id)
    try:
        with database.atomic():
            room, secret = users.reset_student_secret(user)
            accounts.unlock(user)  # their wrong tries were with the old code
            _audit("user.secret_reset", user.display_name, user_id=user.id, classroom=room.name)
    except AccountError as exc:
        return _user_page(user, error=_("The sign-in code was not changed: %(reason)s", reason=error_text(exc)),
                          status=400)
    return _user_page(_user_or_404(user_id), secret=(room, secret))


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int):
    user = _user_or_404(user_id)
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        abort(400)
    active = wanted == "1"
    successor_id = int_arg("successor", values=request.form)
    successor = (User.get_or_none(User.id == successor_id) or abort(400)) if successor_id and not active else None
    handed = []
    try:
        with database.atomic():
            if users.set_active(g.user, user, active):
                _audit("user.reactivate" if active else "user.deactivate", user.display_name, user_id=user.id,
                       username=user.username, role=user.role)
            if successor is not None:
                handed = users.hand_over_classes(user, successor)
                _audit("user.classes_handed_over", user.display_name, user_id=user.id, to=successor.display_name,
                       classes=handed)
    except AccountError as exc:
        return _user_page(user, error=error_text(exc), status=400)
    flash(_("%(name)s can sign in again.", name=user.display_name) if active else
          _("%(name)s is deactivated: they cannot sign in; their work is kept.", name=user.display_name))
    if handed:
        flash(_("%(name)s now teaches %(classes)s.", name=successor.display_name, classes=", ".join(handed)))
    elif not active and users.taught_classes(user):
        flash(_("Their classes have no teacher now: assign one under “Classes without a teacher” on the "
                "Administration page."))
    return redirect(url_for("admin.user_page", user_id=user.id))


@bp.post("/classes/<int:class_id>/teacher")
def assign_teacher(class_id: int):
    room = Classroom.get_or_none(Classroom.id == class_id) or abort(404)
    teacher = User.get_or_none(User.id == int_arg("teacher", values=request.form), User.role == "teacher",
                               User.is_active == True)  # noqa: E712
    if teacher is None:
        return _page(error=_("Choose a teacher for %(class)s.", **{"class": room.name}), status=400)
    with database.atomic():
        accounts.enrol(teacher, room)
        _audit("class.teacher", room.name, teacher=teacher.display_name)
    flash(_("%(name)s now teaches %(classes)s.", name=teacher.display_name, classes=room.name))
    return redirect(url_for("admin.home") + "#orphans-heading")


@bp.post("/users/<int:user_id>/unlock")
def unlock(user_id: int):
    user = _user_or_404(user_id)
    with database.atomic():
        addresses = accounts.unlock(user)
        _audit("user.unlock", user.display_name, user_id=user.id, username=user.username, addresses=addresses)
    flash(_("%(name)s can sign in again now: their wrong sign-ins are forgotten.", name=user.display_name))
    return redirect(url_for("admin.user_page", user_id=user.id))


# --- Content packs -------------------------------------------------------------------------------

def _content_page(results=None, error=None, status=200, confirm=None):
    settings = _settings()
    packs = list(ContentPack.select().order_by(ContentPack.pack_id))
    updates, catalog_at = updates_waiting()
    return render_template("admin/content.html", packs=packs, results=results, error=error, confirm=confirm,
                           unreviewed_control=UNREVIEWED_CONTROL,
                           drives=content.usb_candidates(settings.content_usb_roots), updates=updates,
                           catalog_at=catalog_at, withdrawn=[d for d in downloads() if d.state == "withdrawn"]), status


UNREVIEWED_CONTROL = lazy_gettext("Accept it even if it is not signed by a trusted reviewer (students see it "
                                  "marked as not reviewed)")


def _refusal(exc: InvalidPack) -> str:
    """Why a pack was refused, with what to do here on this page (never a command-line flag)."""
    fix = getattr(exc, "fix", None)
    if fix == "unreviewed":
        return _("%(reason)s. To use it anyway, tick “%(control)s” below and import it again.",
                 reason=error_text(exc.reason), control=UNREVIEWED_CONTROL)
    if isinstance(exc, (SignatureError, content.ImportRefused)):
        return error_text(exc)
    # Anything else: the file is not what its maker wrote (cut short on the way, or badly made).
    return _("%(reason)s. The file is damaged or incomplete: copy it again from where it came from (a USB copy "
             "or a download may have been cut short) and import it again; if the same error comes back, ask "
             "whoever made the pack for a new copy.", reason=error_text(exc))


def _install_all(sources, unreviewed: bool, replace: bool = False):
    """(source name, installed?, message) for each pack, and the (source, name, message) of each that
    would replace a reviewed pack with an unreviewed one: those wait for a yes."""
    # Keys added to the settings file count without restarting the web server (and those it started with).
    trusted = tuple(dict.fromkeys(_settings().content_trusted_keys + _current_settings()[0].content_trusted_keys))
    data_dir = _settings().data_dir
    results, waiting = [], []
    for source, name in sources:
        try:
            result = content.install_pack(source, data_dir, trusted, allow_unreviewed=unreviewed,
                                          replace_reviewed=replace)
        except InvalidPack as exc:
            if getattr(exc, "fix", None) == "replace":
                waiting.append((source, name, error_text(exc)))
            else:
                results.append((name, False, _refusal(exc)))
            continue
        if result.unchanged:
            message = _("%(pack)s %(version)s is installed already", pack=result.pack_id, version=result.version)
        else:
            message = _("Installed %(pack)s %(version)s", pack=result.pack_id, version=result.version)
            if not result.reviewed:
                message += " · " + _("Not reviewed: local content")
        results.append((name, True, message))
    return results, waiting


def _uploads():
    folder = _settings().data_dir / "content" / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


UPLOAD_KEPT = datetime.timedelta(hours=6)  # an upload waiting for "replace?" is dropped after this


def _drop_old_uploads(folder) -> None:
    cutoff = (utcnow() - UPLOAD_KEPT).timestamp()
    for path in folder.glob("*.ckpack"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


def _after_import(what: str, source: str, unreviewed: bool, results, waiting, confirm: dict | None):
    # The packs' own transactions are done: the audit row follows them.
    if results:
        with database.atomic():
            _audit("content.import", what, source=source, unreviewed=unreviewed,
                   results=[{"file": name, "ok": ok, "message": message} for name, ok, message in results])
    if waiting:
        confirm = {**(confirm or {}), "packs": [(name, message) for _source, name, message in waiting]}
        return _content_page(results=results, confirm=confirm, status=409)
    return _content_page(results=results, status=200 if all(ok for _, ok, _ in results) else 400)


@bp.get("/content")
def content_home():
    return _content_page()


@bp.post("/content/upload")
def content_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _content_page(error=_("Choose a .ckpack file to import."), status=400)
    incoming = _uploads()
    _drop_old_uploads(incoming)
    token = secrets.token_hex(8)
    path = incoming / (token + ".ckpack")
    unreviewed = bool(request.form.get("unreviewed"))
    keep = False
    try:
        upload.save(path)
        results, waiting = _install_all([(path, upload.filename)], unreviewed)
        keep = bool(waiting)  # kept for the "replace it?" answer
    finally:
        if not keep:
            path.unlink(missing_ok=True)
    return _after_import(upload.filename, "upload", unreviewed, results, waiting,
                         {"action": url_for("admin.content_replace"), "token": token, "name": upload.filename})


def _drive_sources(wanted: str):
    """The packs on the USB drive `wanted` as (path, name) pairs, or the content page saying why not."""
    drives = {str(d): d for d in content.usb_candidates(_settings().content_usb_roots)}
    if wanted not in drives:
        return _content_page(error=_("That drive is no longer there. Plug it in again and reload the page."),
                             status=400)
    try:
        return [(p, p.name) for p in iter_sources([drives[wanted]])]
    except InvalidPack as exc:
        return _content_page(error=_refusal(exc), status=400)


@bp.post("/content/replace")
def content_replace():
    """The answer to "replace a reviewed pack with an unreviewed one?" for an uploaded file or a drive."""
    token, drive = request.form.get("token", ""), request.form.get("drive", "")
    if token:
        if len(token) != 16 or not all(c in "0123456789abcdef" for c in token):
            abort(400)
        path = _uploads() / (token + ".ckpack")
        if not path.exists():
            return _content_page(error=_("That upload is gone (it waits for an answer for a few hours only). "
                                         "Import the file again."), status=400)
        name = request.form.get("name", "")[:200] or path.name
        try:
            if request.form.get("replace") != "1":
                flash(_("Nothing changed: the reviewed pack stays."))
                return redirect(url_for("admin.content_home"))
            results, _waiting = _install_all([(path, name)], True, replace=True)
        finally:
            path.unlink(missing_ok=True)
        return _after_import(name, "upload", True, results, [], None)
    if request.form.get("replace") != "1":
        flash(_("Nothing changed: the reviewed pack stays."))
        return redirect(url_for("admin.content_home"))
    sources = _drive_sources(drive)
    if not isinstance(sources, list):
        return sources  # the page saying why not
    results, _waiting = _install_all(sources, True, replace=True)
    return _after_import(drive, "usb", True, results, [], None)


@bp.post("/content/usb")
def content_usb():
    wanted = request.form.get("drive", "")
    sources = _drive_sources(wanted)
    if not isinstance(sources, list):
        return sources  # the page saying why not
    unreviewed = bool(request.form.get("unreviewed"))
    results, waiting = _install_all(sources, unreviewed)
    return _after_import(wanted, "usb", unreviewed, results, waiting,
                         {"action": url_for("admin.content_replace"), "drive": wanted})


@bp.post("/content/<pack_id>/remove")
def content_remove(pack_id: str):
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id)
    try:
        content.remove_pack(pack_id, _settings().data_dir)
    except InvalidPack:
        abort(404)
    _audit_after("content.remove", pack_id, version=pack.version if pack else None)
    flash(_("Removed %(pack)s", pack=pack_id))
    return redirect(url_for("admin.content_home"))


# --- Sync with the national platform ---------------------------------------------------------------

STALE_REQUEST = datetime.timedelta(minutes=2)  # the agent looks every few seconds when it runs


def _size(count: int) -> str:
    if count >= 1024 ** 3:
        return _("%(size)s GB", size=format_decimal(round(count / 1024 ** 3, 1)))
    if count >= 1024 ** 2:
        return _("%(size)s MB", size=format_decimal(round(count / 1024 ** 2, 1)))
    if count >= 1024:
        return _("%(size)s KB", size=format_decimal(round(count / 1024, 1)))
    return _("%(size)s bytes", size=format_decimal(count))


def _sync_panel(attempts: int = 5) -> dict:
    """What admin/_sync.html shows: the agent's state, read from the database it writes."""
    status = sync_status(attempts=attempts)
    oldest = (SyncRequest.select(SyncRequest.requested_at).where(SyncRequest.done_at.is_null())
              .order_by(SyncRequest.id).scalar()) if status.pending_requests else None
    current = _current_settings()[0]
    return {"sync": status, "stale_request": bool(oldest and utcnow() - oldest > STALE_REQUEST),
            "agent": agent_alive(), "start_agent": START_AGENT,
            "overdue_days": sync_overdue(status, current.sync_warn_after_days),
            "warn_after_days": current.sync_warn_after_days, "school_now": _school_now(current),
            "https": _https_panel(),
            "download_opens": _download_opens() if any(d.state == "waiting_window" for d in status.downloads)
            else None}


def _https_panel() -> dict:
    """What admin/_https.html shows: the certificate the agent installed and its last certificate step."""
    current = https.installed(_settings().data_dir)
    if current is not None and current.self_signed:
        current = None  # install.sh's stand-in until the real one arrives
    state = https.agent_state()
    return {"certificate": current, "offered": bool(state.get("offered")), "error": state.get("error"),
            "nearing": current is not None and current.nearing_expiry(),
            "expired": current is not None and current.expired(),
            "days_left": current.days_left() if current else None}


def _school_now(settings) -> str:
    """The server's clock in the school's time zone, for the IT person to compare with a phone."""
    return settings.school_now().strftime("%Y-%m-%d %H:%M")


def _download_opens() -> str | None:
    """When the agent may download content next ([sync] download_hours in the school's time zone), HH:MM."""
    import pytz
    settings = _current_settings()[0]
    now = datetime.datetime.now(pytz.timezone(settings.i18n_timezone))
    return next_window_start(settings.sync_download_hours or settings.sync_hours, now)


def _duration(delta: datetime.timedelta | None) -> str:
    return format_timedelta(delta, threshold=1.5) if delta is not None else "—"


@bp.post("/sync")
def sync_now():
    with database.atomic():
        request_sync(g.user.username)
        _audit("sync.now")
    flash(_("Sync asked for: the sync agent starts within a few seconds when it is running."))
    back = "admin.sync_page" if request.form.get("back") == "sync" else "admin.home"
    return redirect(url_for(back) + "#sync-heading")


@bp.post("/sync/enrol")
def sync_enrol():
    """Enrol the school with the national platform (classroom-sync enroll, run for the IT person)."""
    form = request.form
    values = {"hub": form.get("hub", "")[:500], "school_id": form.get("school_id", "")[:200],
              "national_key": form.get("national_key", "")[:200], "insecure_http": bool(form.get("insecure_http"))}
    try:
        outcome = enrol.enrol(_settings().data_dir, values["hub"], values["school_id"], form.get("secret", "")[:500],
                              values["national_key"], values["insecure_http"])
    except enrol.EnrolError as exc:
        return _sync_page(enrol_form=values, enrol_error=str(exc), status=400)
    with database.atomic():
        _audit("sync.enrol", values["school_id"], hub=values["hub"], ok=outcome.ok,
               national_key=values["national_key"])
    if not outcome.ok:
        return _sync_page(enrol_form=values, enrol_error=outcome.output, status=400)
    flash(_("Enrolled: the sync agent uses the new enrolment from its next sync."))
    return redirect(url_for("admin.sync_page") + "#sync-heading", 303)


HISTORY_PAGE = 50


def _current_settings():
    """The settings as the file and variables say now (what the sync agent reads before each run),
    and an error if the file cannot be read; the running web server's settings as a fallback."""
    try:
        return load_settings(_settings().data_dir), None
    except SettingsError as exc:
        return _settings(), str(exc)


def _sync_page(error: str | None = None, status: int = 200, form: dict | None = None, enrol_form: dict | None = None,
               enrol_error: str | None = None):
    page = page_arg()
    total = SyncLog.select().count()
    pages = max(1, -(-total // HISTORY_PAGE))
    page = min(page, pages)
    history = list(SyncLog.select().order_by(SyncLog.id.desc()).paginate(page, HISTORY_PAGE))
    current, settings_error = _current_settings()
    where = origins(current.data_dir) if settings_error is None else {}
    overridden = [option.env for option in OPTIONS if option.section == "sync"
                  and option.key in ("hours", "bandwidth_bytes_per_second")
                  and getattr(where.get(option.field), "kind", None) == "environment"]
    values = form or {"hours": current.sync_hours, "bandwidth": str(current.sync_bandwidth_bytes_per_second)}
    return render_template("admin/sync.html", history=history, page=page, pages=pages, total=total,
                           values=values, current=current, settings_error=settings_error, overridden=overridden,
                           error=error, enrol_form=enrol_form or {}, enrol_error=enrol_error,
                           **_sync_panel(attempts=0)), status


@bp.get("/sync")
def sync_page():
    return _sync_page()


@bp.post("/sync/settings")
def sync_settings():
    hours = request.form.get("hours", "").strip()
    bandwidth = request.form.get("bandwidth", "").strip()
    form = {"hours": hours, "bandwidth": bandwidth}
    try:
        hour_windows(hours)
    except ValueError:
        return _sync_page(_("Sync hours are one or more windows of the day, like 00:00-24:00 or "
                            "00:00-07:30, 18:00-24:00."), 400, form)
    if not bandwidth.isdigit():
        return _sync_page(_("The bandwidth cap is a whole number of bytes per second, 0 for no cap."), 400, form)
    current, _error = _current_settings()
    wanted = {("sync", "hours"): hours, ("sync", "bandwidth_bytes_per_second"): str(int(bandwidth))}
    was = {("sync", "hours"): current.sync_hours,
           ("sync", "bandwidth_bytes_per_second"): str(current.sync_bandwidth_bytes_per_second)}
    changes = {key: value for key, value in wanted.items() if value != was[key]}
    if not changes:
        flash(_("Nothing changed."))
        return redirect(url_for("admin.sync_page") + "#sync-settings-heading")
    try:
        path = change_settings(current.data_dir, changes)
    except SettingsError as exc:
        return _sync_page(_("The settings file could not be changed: %(reason)s", reason=str(exc)), 400, form)
    with database.atomic():
        _audit("settings.change", str(path), **{f"[{section}] {key}": f"{was[(section, key)]} → {value}"
                                                for (section, key), value in changes.items()})
    flash(_("Saved. The sync agent uses the new values from its next run."))
    return redirect(url_for("admin.sync_page") + "#sync-settings-heading")


# --- Backups ------------------------------------------------------------------------------------------

def _backups_page(error: str | None = None, made: str | None = None, status: int = 200):
    settings = _settings()
    current, _error = _current_settings()
    return render_template("admin/backups.html", backups=backup.list_backups(settings), error=error, made=made,
                           pending=backup.pending_restore(settings), restore_failed=backup.restore_failure(settings),
                           restore_command=RESTORE_COMMAND,
                           folder=backup.backups_folder(settings), data_dir=settings.data_dir,
                           sqlite=is_sqlite(), schedule=current, nightly=audit.latest("backup.nightly")), status


@bp.get("/backups")
def backups():
    return _backups_page()


@bp.post("/backups")
def make_backup():
    settings = _settings()
    try:
        result = backup.backup_into_folder(settings, "manual")
    except backup.BackupError as exc:
        return _backups_page(error=_("The backup was not made: %(reason)s", reason=str(exc)), status=400)
    with database.atomic():
        _audit("backup.make", result.path.name, size=result.size, schema=result.schema)
    flash(_("Backup made: %(name)s (%(size)s).", name=result.path.name, size=_size(result.size)))
    return redirect(url_for("admin.backups"))


def _backup_path(name: str):
    if not backup.is_backup_name(name):
        abort(404)
    path = safe_join(str(backup.backups_folder(_settings())), name)
    if path is None:
        abort(404)
    return path


@bp.get("/backups/<name>")
def download_backup(name: str):
    path = _backup_path(name)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        abort(404)
    # Best effort: a backup must be downloadable even when the disk is too full for the audit row.
    _audit_after("backup.download", name)
    response = send_file(handle, mimetype="application/gzip", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"  # it holds password hashes and the session key
    return response


#: the agent stops first so that it does not write into the database being moved aside
RESTORE_COMMAND = ("sudo systemctl stop classroom-sync && sudo systemctl restart classroom-server && "
                   "sudo systemctl start classroom-sync")


@bp.post("/backups/<name>/restore")
def restore_backup(name: str):
    """Check a backup completely and note it; `classroom-server serve` restores it when it next starts."""
    _backup_path(name)
    try:
        backup.request_restore(_settings(), name)
    except backup.BackupError as exc:
        return _backups_page(error=_("That backup cannot be restored: %(reason)s", reason=str(exc)), status=400)
    with database.atomic():
        _audit("backup.restore", name)
    return redirect(url_for("admin.backups") + "#pending-restore-heading", 303)


@bp.post("/backups/restore/cancel")
def cancel_restore():
    backup.cancel_restore(_settings())
    with database.atomic():
        _audit("backup.restore_cancel")
    flash(_("No restore: the server keeps its data."))
    return redirect(url_for("admin.backups"), 303)


@bp.post("/backups/<name>/delete")
def delete_backup(name: str):
    _backup_path(name)
    try:
        backup.delete_backup(_settings(), name)
    except backup.BackupError:
        abort(404)
    _audit_after("backup.delete", name)
    flash(_("Removed %(name)s.", name=name))
    return redirect(url_for("admin.backups"))


# --- Settings, recent events, audit log ---------------------------------------------------------------

AGENT_SECTIONS = ("sync", "backup")
#: read by the web server from the settings file on each use: a change counts at once
LIVE_OPTIONS = ("content_trusted_keys", "sync_warn_after_days")  # trusted keys: added ones (removing needs a restart)
#: read by the sync agent only when it starts
AGENT_RESTART_OPTIONS = ("sync_interval_seconds", "backup_time", "adaptive_fit_time")
RESTART_SERVER = "sudo systemctl restart classroom-server"
RESTART_AGENT = "sudo systemctl restart classroom-sync"
RESTART_BOTH = "sudo systemctl restart classroom-server classroom-sync"


def _how_it_applies(option) -> tuple[str, str | None]:
    """("now" | "agent_run" | "restart", the command that restarts what reads it)."""
    if option.field in LIVE_OPTIONS:
        return "now", None
    if option.field == "database_url":
        return "restart", RESTART_BOTH
    if option.field in AGENT_RESTART_OPTIONS:
        return "restart", RESTART_AGENT
    if option.section in AGENT_SECTIONS:
        return "agent_run", None
    return "restart", RESTART_SERVER


@bp.get("/settings")
def settings_page():
    return _settings_page()


def _settings_page(files_error: str | None = None, status: int = 200):
    running = _settings()
    current, settings_error = _current_settings()
    try:
        where = origins(running.data_dir)
    except SettingsError:
        where = {}
    rows = []
    for option in OPTIONS:
        value = shown_value(option, getattr(current, option.field))
        in_server = shown_value(option, getattr(running, option.field))
        # The sync agent reads [sync] and [backup] itself: what the web server loaded does not matter.
        differs = in_server != value and option.section not in AGENT_SECTIONS
        applies, command = _how_it_applies(option)
        rows.append({"option": option, "value": value, "origin": where.get(option.field),
                     "server_value": in_server if differs and applies == "restart" else None,
                     "agent": option.section in AGENT_SECTIONS, "applies": applies, "command": command})
    teacher_mb, school_mb = school_files.quotas_mb()
    quotas = {"teacher": str(teacher_mb), "school": str(school_mb)}
    if files_error is not None:
        quotas = {"teacher": request.form.get("teacher_quota", "")[:20], "school": request.form.get("school_quota", "")[:20]}
    return render_template("admin/settings.html", rows=rows, settings_error=settings_error,
                           ini_path=running.ini_path, data_dir=running.data_dir,
                           teachers_create_classes=coach_services.teachers_may_create_classes(),
                           files=school_files.school_usage(), file_count=school_files.file_count(), quotas=quotas,
                           files_error=files_error), status


@bp.post("/settings/school")
def school_rules():
    """The school's own rules, kept in the database and in force at once (no restart)."""
    allowed = request.form.get("teachers_create_classes") == "1"
    with database.atomic():
        was = coach_services.teachers_may_create_classes()
        coach_services.allow_teachers_to_create_classes(allowed)
        _audit("settings.change", "teachers_create_classes", **{"teachers_create_classes": f"{was} → {allowed}"})
    flash(_("Saved: teachers may now create their own classes.") if allowed
          else _("Saved: only you create classes now."))
    return redirect(url_for("admin.settings_page") + "#school-rules-heading", 303)


@bp.post("/settings/files")
def school_file_quotas():
    """How much the school's own files (teachers' pictures) may take: per teacher and in all; at once."""
    was = school_files.quotas_mb()
    try:
        with database.atomic():
            now = school_files.set_quotas_mb(request.form.get("teacher_quota", ""), request.form.get("school_quota", ""))
            _audit("settings.change", "school_file_quotas",
                   **{"teacher_quota_mb": f"{was[0]} → {now[0]}", "school_quota_mb": f"{was[1]} → {now[1]}"})
    except school_files.SchoolFileError as exc:
        return _settings_page(error_text(exc), 400)
    flash(_("Saved: each teacher may keep %(teacher)d MB of pictures, the school %(school)d MB in all.",
            teacher=now[0], school=now[1]))
    return redirect(url_for("admin.settings_page") + "#school-files-heading", 303)


@bp.get("/log")
def recent_log():
    return render_template("admin/log.html", events=audit.recent_events(100))


@bp.get("/audit")
def audit_log():
    entries, pages = audit.page(page_arg())
    page = min(page_arg(), pages)
    return render_template("admin/audit.html", entries=entries, page=page, pages=pages)
