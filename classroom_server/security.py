"""Sign-in state, CSRF protection and role checks shared by every blueprint."""
from __future__ import annotations

import functools
import hmac
import logging
import secrets
import re
import time
import urllib.parse
from typing import Callable

from flask import Response, abort, current_app, g, jsonify, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from itsdangerous import BadSignature
from werkzeug.exceptions import HTTPException
from peewee import OperationalError as PeeweeOperationalError, fn
from werkzeug.routing import IntegerConverter

from .db import Prepared, database, is_disk_full
from .models import RevokedSession, User, utcnow

log = logging.getLogger(__name__)

# Endpoints anyone may reach without signing in.
PUBLIC_ENDPOINTS = {
    "static", "healthz", "service_worker", "accounts.signin", "accounts.staff_signin", "accounts.student_class",
    "accounts.student_secret", "accounts.setup", "accounts.set_language", "api.openapi",
    # Content files carry no personal data and are addressed by hash or pack path.
    "content.blob", "content.pack_file",
    # The OPDS catalog: e-reader apps cannot sign in, and e-textbooks carry no personal data.
    "opds.root", "opds.all_books", "opds.subjects", "opds.subject", "opds.grades", "opds.grade",
    "opds.languages", "opds.language", "opds.search", "opds.opensearch", "opds.book_epub",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Paths served the same to everyone: no session is read or written (no cookie, no Vary: Cookie),
# so files stay cacheable and cost no signature checks.
STATELESS_PREFIXES = ("/content/", "/static/", "/opds/", "/healthz", "/sw.js")


class ClassroomSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with each cookie verified once.

    A signed-in student sends the same cookie with every answer, and checking its signature and
    decoding it again costs more than the rest of the request's session work. The same bytes
    always verify the same way under the same key, so a verified cookie is remembered (a bounded
    LRU) with the time it was signed; each request only checks its age again. Session values are
    plain scalars (ids, tokens), so a shallow copy per request keeps requests apart.
    """

    def __init__(self, remembered: int = 4096):
        self._verified = functools.lru_cache(maxsize=remembered)(self._verify)

    def _verify(self, app, cookie: str) -> tuple[dict, int]:
        """The session data in `cookie` and when it was signed (seconds); BadSignature if forged."""
        data, signed_at = self.get_signing_serializer(app).loads(cookie, return_timestamp=True)
        return data, int(signed_at.timestamp())

    def open_session(self, app, request):
        if request.path.startswith(STATELESS_PREFIXES):
            return self.null_session_class()
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie or not app.secret_key:
            return super().open_session(app, request)
        try:
            data, signed_at = self._verified(app, cookie)
        except BadSignature:  # forged or from another key: not remembered, an empty session
            return self.session_class()
        age = int(time.time()) - signed_at  # as itsdangerous checks max_age
        if not 0 <= age <= int(app.permanent_session_lifetime.total_seconds()):
            return self.session_class()
        return self.session_class(data)

    def save_session(self, app, session, response) -> None:
        # Most requests leave the session as it came: skip working out how its cookie would be set.
        if not session.modified and not self.should_set_cookie(app, session):
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def csrf_token() -> str:
    if request._get_current_object().path.startswith(STATELESS_PREFIXES):  # not the proxy: load_user
        return ""  # e.g. a 404 page for a missing file: no session here, so no forms either
    state = session._get_current_object()
    token = state.get("csrf")
    if not token:
        token = state["csrf"] = secrets.token_urlsafe(32)
    return token


def csp_nonce() -> str:
    """This response's script nonce: the Content-Security-Policy lets only scripts carrying it run."""
    state = g._get_current_object()  # not the proxy: load_user
    nonce = state.get("csp_nonce")
    if nonce is None:
        nonce = state.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def check_csrf() -> None:
    """Refuse a state-changing request that does not carry this session's token."""
    if request._get_current_object().method not in UNSAFE_METHODS:  # not the proxy: load_user
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        if wants_json():
            abort(json_error(400, "csrf", "Missing or stale CSRF token: read it from /api/v1/me and "
                                          "send it as the X-CSRF-Token header."))
        abort(400, description=_("This form has expired. Go back, reload the page and try again."))


def json_error(status: int, error: str, message: str) -> Response:
    response = jsonify(error=error, message=message)
    response.status_code = status
    return response


def with_error_headers(response: Response, exc: HTTPException) -> Response:
    """Keep the headers an HTTP error must carry (a 405's `Allow`, RFC 9110 15.5.6) on our own page."""
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/")


# The signed-in user, unless this sign-in was revoked: one query on every request (each query a
# page makes hands the GIL to another request thread and waits to get it back). Parameters: the
# user's id, the session id.
_SIGNED_IN = Prepared(lambda: User.select().where(
    User.id == 0, ~fn.EXISTS(RevokedSession.select(RevokedSession.sid).where(RevokedSession.sid == ""))))


def load_user() -> User | None:
    """Put the signed-in user in `g.user` (None if nobody is); that user.

    Here and in the other hooks every page runs, the request, session and `g` objects are taken from
    werkzeug's proxies once: on Python 3.11 each attribute read through a proxy first fails (a
    formatted AttributeError) before the proxy forwards it, ~0.6 µs, and a page made sixty."""
    state = g._get_current_object()
    state.user = None
    if request._get_current_object().path.startswith(STATELESS_PREFIXES):
        return None
    cookie = session._get_current_object()
    user_id = cookie.get("uid")
    if user_id is None:
        return None
    sid = cookie.get("sid")
    found = _SIGNED_IN(user_id, sid) if sid else None
    user = found[0] if found else None
    if user is None or not user.is_active or user.session_version != cookie.get("ver"):
        cookie.pop("uid", None)
        return None
    state.user = user
    return user


def require_signin() -> object | None:
    endpoint = request._get_current_object().endpoint  # not the proxy: load_user
    if g._get_current_object().user is not None or endpoint in PUBLIC_ENDPOINTS or endpoint is None:
        return None
    if wants_json():
        return json_error(401, "unauthenticated", "Sign in first.")
    return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))


def roles_required(*roles: str) -> Callable[[], None]:
    """A blueprint `before_request` hook that lets only these roles through."""
    def check() -> None:
        user = g._get_current_object().user  # not the proxy: load_user
        if user is None:
            abort(401)
        if user.role not in roles:
            if wants_json():
                abort(json_error(403, "forbidden", "Your role cannot use this."))
            abort(403)
    return check


def role_home(user: User) -> str:
    return {"admin": "admin.home", "teacher": "coach.home", "student": "learn.home"}[user.role]


def sign_in(user: User) -> None:
    _revoke(session.get("sid") if session.get("uid") is not None else None)  # whoever was signed in here
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session.permanent = True
    session["uid"] = user.id
    session["ver"] = user.session_version
    # This sign-in's own id: signing out revokes it alone (see sign_out).
    session["sid"] = secrets.token_urlsafe(32)
    session["csrf"] = secrets.token_urlsafe(32)


def _revoke(sid: str | None) -> None:
    if not sid:
        return
    now = utcnow()
    try:
        with database.atomic():
            RevokedSession.insert(sid=sid, expires_at=now + current_app.permanent_session_lifetime) \
                .on_conflict_ignore().execute()
            RevokedSession.delete().where(RevokedSession.expires_at < now).execute()
    except PeeweeOperationalError as exc:
        if not is_disk_full(exc):
            raise
        # Signing in and out must still work on a full disk: this browser forgets the session, and
        # a copy of its cookie lasts until it expires, as before server-side sign-out.
        log.warning("the disk is full: a signed-out session could not be recorded as ended")


def sign_out() -> None:
    """End this browser's session on the server too: a copy of its cookie signs no one in any more.

    Only this session is revoked, not the person's others (session_version would end those too:
    a teacher signing out on a phone stays signed in on the classroom laptop). The id is kept until
    the cookie would have expired anyway; expired ids are forgotten here."""
    _revoke(session.get("sid") if session.get("uid") is not None else None)
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


# Browsers drop these from a URL before reading it: "/\t/evil.example" would go to //evil.example.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None) -> str | None:
    """Only follow a `next` that is a path on this server: no scheme, no host, however spelled."""
    if not target:
        return None
    target = _CONTROL.sub("", target).strip()
    # "\\" counts as "/" to browsers ("/\\evil" is "//evil"), and "//" starts a host.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


# The largest integer SQLite (and PostgreSQL's bigint) holds: an id or number beyond it can name no row.
DB_INT_MAX = 2 ** 63 - 1
MAX_PAGE = 1_000_000


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in a path: a whole number a database column can hold. A larger one names nothing
    and gets 404, as any id without a row does, instead of overflowing the query."""

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def int_arg(name: str, default: int | None = None, low: int = -DB_INT_MAX - 1, high: int = DB_INT_MAX,
            values=None, blank_is_absent: bool = True) -> int | None:
    """The whole number in query (or form, as `values`) field `name`, or `default` when it is absent or
    (for a form's empty field, unless `blank_is_absent` is False, as an API has it) empty; anything
    else, or a number outside low..high, is refused with 400 saying what to send."""
    given = (request.args if values is None else values).get(name)
    text = (given or "").strip()
    if given is None or (not text and blank_is_absent):
        return default
    try:
        value = int(text) if len(text) <= 20 else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        if wants_json():
            abort(json_error(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}, "
                                                   f"not {text[:40]!r}"))
        abort(400, description=_("%(name)s must be a whole number from %(low)s to %(high)s.", name=name,
                                 low=low, high=high))
    return value


def page_arg() -> int:
    """The `page` query field: 1 when absent; 1..MAX_PAGE, else 400."""
    return int_arg("page", 1, low=1, high=MAX_PAGE)


def settings():
    return current_app.config["CLASSROOM_SETTINGS"]
