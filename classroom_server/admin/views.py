"""The school IT person's pages: people, classes, CSV import."""
from __future__ import annotations

import datetime
import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _

from content_packs.manifest import InvalidPack
from content_packs.reader import iter_sources

from ..accounts import services as accounts
from ..content import services as content
from ..accounts.services import AccountError
from ..coach.services import visible_classrooms
from ..i18n import error_text
from ..models import ROLES, SIGNIN_MODES, Classroom, ContentPack, SyncRequest, User, utcnow
from ..security import roles_required
from .sync import request_sync, sync_status

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
                           error=error, report=report, **_sync_panel()), status


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


# --- Content packs -------------------------------------------------------------------------------

def _settings():
    return current_app.config["CLASSROOM_SETTINGS"]


def _content_page(results=None, error=None, status=200):
    settings = _settings()
    packs = list(ContentPack.select().order_by(ContentPack.pack_id))
    return render_template("admin/content.html", packs=packs, results=results, error=error,
                           drives=content.usb_candidates(settings.content_usb_roots)), status


def _install_all(sources, unreviewed: bool) -> list[tuple[str, bool, str]]:
    """(source name, installed?, message) for each pack."""
    settings = _settings()
    results = []
    for source, name in sources:
        try:
            result = content.install_pack(source, settings.data_dir, settings.content_trusted_keys,
                                          allow_unreviewed=unreviewed)
        except InvalidPack as exc:
            results.append((name, False, error_text(exc)))
            continue
        if result.unchanged:
            message = _("%(pack)s %(version)s is installed already", pack=result.pack_id, version=result.version)
        else:
            message = _("Installed %(pack)s %(version)s", pack=result.pack_id, version=result.version)
            if not result.reviewed:
                message += " · " + _("Not reviewed: local content")
        results.append((name, True, message))
    return results


@bp.get("/content")
def content_home():
    return _content_page()


@bp.post("/content/upload")
def content_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _content_page(error=_("Choose a .ckpack file to import."), status=400)
    incoming = _settings().data_dir / "content" / "uploads"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / (secrets.token_hex(8) + ".ckpack")
    try:
        upload.save(path)
        results = _install_all([(path, upload.filename)], bool(request.form.get("unreviewed")))
    finally:
        path.unlink(missing_ok=True)
    return _content_page(results=results, status=200 if all(ok for _, ok, _ in results) else 400)


@bp.post("/content/usb")
def content_usb():
    wanted = request.form.get("drive", "")
    drives = {str(d): d for d in content.usb_candidates(_settings().content_usb_roots)}
    if wanted not in drives:
        return _content_page(error=_("That drive is no longer there. Plug it in again and reload the page."),
                             status=400)
    try:
        sources = [(p, p.name) for p in iter_sources([drives[wanted]])]
    except InvalidPack as exc:
        return _content_page(error=error_text(exc), status=400)
    results = _install_all(sources, bool(request.form.get("unreviewed")))
    return _content_page(results=results, status=200 if all(ok for _, ok, _ in results) else 400)


@bp.post("/content/<pack_id>/remove")
def content_remove(pack_id: str):
    try:
        content.remove_pack(pack_id, _settings().data_dir)
    except InvalidPack:
        abort(404)
    flash(_("Removed %(pack)s", pack=pack_id))
    return redirect(url_for("admin.content_home"))


# --- Sync with the national platform ---------------------------------------------------------------

STALE_REQUEST = datetime.timedelta(minutes=2)  # the agent looks every few seconds when it runs


def _size(count: int) -> str:
    if count >= 1024 ** 2:
        return _("%(size)s MB", size=format_decimal(round(count / 1024 ** 2, 1)))
    if count >= 1024:
        return _("%(size)s KB", size=format_decimal(round(count / 1024, 1)))
    return _("%(size)s bytes", size=format_decimal(count))


def _sync_panel() -> dict:
    """What admin/_sync.html shows: the agent's state, read from the database it writes."""
    status = sync_status(attempts=5)
    oldest = (SyncRequest.select(SyncRequest.requested_at).where(SyncRequest.done_at.is_null())
              .order_by(SyncRequest.id).scalar()) if status.pending_requests else None
    return {"sync": status, "stale_request": bool(oldest and utcnow() - oldest > STALE_REQUEST),
            "number": format_decimal, "size": _size}


@bp.post("/sync")
def sync_now():
    request_sync(g.user.username)
    flash(_("Sync asked for: the sync agent starts within a few seconds when it is running."))
    return redirect(url_for("admin.home") + "#sync-heading")
