"""The app factory: open the database proxy, register blueprints and commands, nothing more."""
from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import os
import secrets
from pathlib import Path

from flask import Flask, current_app, g, jsonify, render_template, request, url_for
from flask_babel import Babel
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Rule
from werkzeug.security import safe_join

from . import __version__, diskfull, security
from .accounts.views import bp as accounts_bp
from .admin.views import bp as admin_bp
from .api.views import bp as api_bp
# A blueprint over several files: each view file adds its routes to the blueprint's module's `bp`.
from .coach import assignment_views, mastery_views, report_views, views as coach_views  # noqa: F401
from .coach.blueprint import bp as coach_bp
from .content.views import bp as content_bp
from .db import database, open_database
from .health import health_report
from .i18n import (LANGUAGE_NAMES, PICTURE_LABELS, catalog, error_text, install_template_gettext, interface_language,
                   select_locale)
from .learn import tutor_views, views as learn_views  # noqa: F401
from .learn.blueprint import bp as learn_bp
from .opds.views import bp as opds_bp
from .permissions import make_folder
from .rendering import PageEnvironment
from .settings import LANGUAGES, Settings, load_settings

log = logging.getLogger(__name__)

# Every response has these, unless its view set them itself.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "same-origin"),
)
# Pages may load only what this server serves: offline means offline. Scripts: only the ones our own
# templates name with this response's nonce (security.csp_nonce), never any other file of this origin:
# a pack's .js under /content is ours by origin too, and must never run as our page's script.
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src {scripts}; "
            "worker-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'self'")
# Requests are capped at 16 MiB, except content packs that an administrator uploads.
LARGE_UPLOADS = {"admin.content_upload"}
MAX_PACK_UPLOAD = 64 * 1024 ** 3


def _secret_key(data_dir: Path) -> bytes:
    """The key that signs session cookies; made once per school and kept in the data folder."""
    path = data_dir / "secret_key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    make_folder(data_dir)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes starting at once agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


@functools.lru_cache(maxsize=8192)
def _cached_url(app_id: int, script_root: str, endpoint: str, values: tuple) -> str:
    return url_for(endpoint, **dict(values))


def _memo_url_for(endpoint: str, **values) -> str:
    """url_for for templates, remembered: a page builds the same dozen links on every request."""
    try:  # the objects, not the proxies (security.load_user says why)
        return _cached_url(id(current_app._get_current_object()), request._get_current_object().script_root,
                           endpoint, tuple(sorted(values.items())))
    except TypeError:  # an unhashable value: build it the slow way
        return url_for(endpoint, **values)


class _Rule(Rule):
    """werkzeug's Rule, whose text is parsed and URL builders compiled once per process.

    werkzeug compiles two Python functions from each rule's AST as the rule is added: about 0.5 ms
    a rule, most of create_app's time, paid again by every app a process makes (the test suite makes
    one per test). A builder depends only on the rule's parsed parts and `append_unknown` (it reads
    the converters from the rule it is bound to), so same rules share one; a rule with defaults
    (resolved into its builder) compiles its own, as before.
    """

    _builders: dict[tuple, object] = {}
    _parsed: dict[tuple, tuple] = {}

    def compile(self) -> None:
        """werkzeug's compile, with the parsing of the rule's text done once per process too (the
        rest of create_app's time): the parts and trace are reused, the converters made anew for
        this rule's map from the arguments parsed then."""
        key = (self.rule, self.subdomain, self.host, self.merge_slashes, self.map.host_matching,
               tuple(self.map.converters.items()))
        parsed = self._parsed.get(key)
        if parsed is None:
            super().compile()
            self._parsed[key] = (tuple(self._parts), tuple(self._trace), tuple(
                (name, *self._converter_specs[name]) for name in self._converters))
            return
        parts, trace, converters = parsed
        self._parts, self._trace = list(parts), list(trace)
        self._converters = {name: self.get_converter(name, converter, args, kwargs)
                            for name, converter, args, kwargs in converters}
        self.arguments.update(self._converters)
        self._build = self._compile_builder(False).__get__(self, None)
        self._build_unknown = self._compile_builder(True).__get__(self, None)

    def get_converter(self, variable_name, converter_name, args, kwargs):
        self.__dict__.setdefault("_converter_specs", {})[variable_name] = (converter_name, args, kwargs)
        return super().get_converter(variable_name, converter_name, args, kwargs)

    def _compile_builder(self, append_unknown: bool = True):
        if self.defaults:
            return super()._compile_builder(append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


#: how long a static file asked for with its own version may be kept without asking again
STATIC_MAX_AGE = 365 * 24 * 3600


@functools.lru_cache(maxsize=128)
def static_version(folder: str, filename: str) -> str | None:
    """The first 12 hex digits of a static file's SHA-256; None if there is no such file. Static
    files change only with an upgrade, which restarts the server, so once per process is enough."""
    path = safe_join(folder, filename)
    if path is None or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:  # small files (app.js: 37 KB); hashlib.file_digest is 3.11's
        return hashlib.sha256(handle.read()).hexdigest()[:12]


class ClassroomFlask(Flask):
    """Flask, with each view's and hook's "is it async?" worked out once, and static files kept by
    browsers for a year under URLs that carry their version.

    Flask asks `inspect` of every hook and the view on every request (eight times a page); ours are
    all plain functions, and a function's kind does not change. Bounded: a callback made anew for
    one request (`after_this_request`) only passes through."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._checked = functools.lru_cache(maxsize=256)(super().ensure_sync)

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """`url_for('static', ...)` adds `?v=<the file's hash>` (create_app's url_defaults), so the
        file under that URL never changes: a phone keeps it a year and asks nothing more on every
        page (style.css, app.js and the icon were each asked again, 304, on every page before). A
        URL without the version, or with an old one (a page kept from before an upgrade), is
        checked each time, as Flask does."""
        # Asked again with the file's whole path when the answer was None (werkzeug's send_file):
        # safe_join refuses that path, and no version is None.
        version = request.args.get("v")
        if (version and filename and request.endpoint == "static"
                and version == static_version(self.static_folder, filename)):
            return STATIC_MAX_AGE
        return super().get_send_file_max_age(filename)

    def ensure_sync(self, func):
        try:
            return self._checked(func)
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = ClassroomFlask(__name__)
    app.url_rule_class = _Rule
    app.jinja_environment = PageEnvironment  # templates compiled per language (rendering.py)
    app.url_map.converters["int"] = security.DatabaseIntConverter  # before any route is added
    app.config.update(
        CLASSROOM_SETTINGS=settings,
        SECRET_KEY=_secret_key(settings.data_dir),
        SESSION_COOKIE_NAME="classroom_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.server_secure_cookies,
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=settings.server_session_hours),
        # The cookie is signed at sign-in, not re-signed on every page: a sign-in lasts
        # session_hours (a school day) and each page view is cheaper.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="kk",
        BABEL_DEFAULT_TIMEZONE=settings.i18n_timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    app.session_interface = security.ClassroomSessionInterface()
    open_database(settings.effective_database_url)
    Babel(app, locale_selector=select_locale)
    install_template_gettext(app.jinja_env)
    app.jinja_env.globals["url_for"] = _memo_url_for

    @app.before_request
    def _before() -> object | None:
        # The request itself, not werkzeug's proxy: each read through the proxy costs ~0.6 µs on
        # Python 3.11 (i18n._chosen_locale), and these hooks run on every page.
        current = request._get_current_object()
        if current.endpoint in ("healthz", "static", "service_worker"):
            return None
        database.obj.connect(reuse_if_open=True)  # not through the proxy (db.run_sql says why)
        user = security.load_user()
        if isinstance(current.routing_exception, MethodNotAllowed):
            return None  # nothing runs but the 405 (with its Allow header): no sign-in, no CSRF check
        if current.endpoint in LARGE_UPLOADS and user is not None and user.role == "admin":
            current.max_content_length = MAX_PACK_UPLOAD  # before the CSRF check reads the form
        response = security.require_signin()
        if response is None:
            security.check_csrf()
        return response

    @app.after_request
    def _headers(response):
        headers = response.headers
        present = {key.lower() for key, _ in headers.items()}  # one pass: each lookup would be another
        for key, value in SECURITY_HEADERS:
            if key.lower() not in present:
                headers.add(key, value)
        state, endpoint = g._get_current_object(), request._get_current_object().endpoint  # as in _before
        if "content-security-policy" not in present:
            nonce = state.get("csp_nonce")
            headers.add("Content-Security-Policy", PAGE_CSP.format(scripts=f"'nonce-{nonce}'" if nonce else "'none'"))
        if endpoint != "static" and "cache-control" not in present:
            headers.add("Cache-Control", "no-store" if state.get("user") else "no-cache")
        elif endpoint == "static" and response.cache_control.max_age == STATIC_MAX_AGE:
            response.cache_control.immutable = True  # not even revalidated on a reload
        return response

    @app.url_defaults
    def _static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values:
            version = static_version(app.static_folder, values.get("filename", ""))
            if version is not None:
                values["v"] = version

    @app.context_processor
    def _globals() -> dict:
        lang = interface_language()
        return {"csrf_token": security.csrf_token, "csp_nonce": security.csp_nonce, "lang": lang,
                "_translations": catalog(lang), "languages": LANGUAGES,
                "language_names": LANGUAGE_NAMES, "current_user": g._get_current_object().get("user"),
                "picture_labels": PICTURE_LABELS, "error_text": error_text, "version": __version__}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if security.wants_json():
            response = security.json_error(exc.code or 500, exc.name.lower().replace(" ", "_"),
                                           exc.description or exc.name)
        else:
            # Show our own (translated) description; werkzeug's defaults are English-only.
            message = exc.description if exc.description != type(exc).description else None
            response = app.make_response((render_template("error.html", error=exc, message=message), exc.code))
        return security.with_error_headers(response, exc)

    diskfull.init_app(app)  # a full disk: 507 and a clear message instead of a 500

    @app.get("/sw.js")
    def service_worker():
        """The service worker, served from the root so that it may control every page."""
        response = app.send_static_file("sw.js")
        response.mimetype = "text/javascript"
        response.headers["Service-Worker-Allowed"] = "/"
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/healthz")
    def healthz():
        report = health_report()
        return jsonify(report), (200 if report["status"] == "ok" else 503)

    for blueprint in (accounts_bp, learn_bp, coach_bp, admin_bp, api_bp, content_bp, opds_bp):
        app.register_blueprint(blueprint)
    return app
