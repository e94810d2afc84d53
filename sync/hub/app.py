"""The hub's app factory: database, the API and dashboard blueprints, health and JSON errors. Nothing more."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Flask
from peewee import InterfaceError, OperationalError, PeeweeException
from werkzeug.exceptions import HTTPException

from sync import __version__, protocol

from . import (certificate_views, content_views, dashboard_views, migrations, operator_views, roster_views, services,
               views)
from .db import database, open_database, open_read_database
from .signed import sign_answer
from .settings import HubSettings

log = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


def create_app(settings: HubSettings) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=protocol.MAX_BODY_BYTES, HUB_NAME=settings.hub_name,
                      HUB_SETTINGS=settings,
                      OPENAPI=json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
    open_database(settings.effective_database_url, max_connections=settings.server_threads + 4)
    if settings.database_read_url:
        open_read_database(settings.database_read_url, max_connections=settings.server_threads + 4,
                           max_lag=settings.database_read_max_lag)
    app.register_blueprint(views.bp)
    app.register_blueprint(dashboard_views.bp)
    app.register_blueprint(content_views.bp)
    app.register_blueprint(roster_views.bp)
    app.register_blueprint(certificate_views.bp)
    operator_views.init_app(app)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.after_request(sign_answer)
    app.teardown_request(_close_database)
    app.register_error_handler(services.HubError, _hub_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def health_report() -> dict:
    check: dict = {"ok": False}
    try:
        done = migrations.applied(database.obj)
        check["schema"] = max(done, default=0)
        if migrations.pending(database.obj, done):
            check["error"] = "schema out of date: run `classroom-hub init`"
        else:
            check["ok"] = True
    except (PeeweeException, migrations.MigrationError, OSError) as exc:
        check["error"] = str(exc)
    return {"status": "ok" if check["ok"] else "error", "version": __version__, "database": check}


def healthz():
    report = health_report()
    return report, 200 if report["status"] == "ok" else 503


def _close_database(_exc) -> None:
    if not database.is_closed():
        database.close()  # back to the pool on PostgreSQL


def _error(status: int, code: str, message: str):
    return {"error": code, "message": message}, status


def _hub_error(exc: services.HubError):
    return _error(exc.status, exc.code, str(exc))


def _http_error(exc: HTTPException):
    if exc.code == 413:
        return _error(413, "too_large", f"the request body is over {protocol.MAX_BODY_BYTES} bytes: send fewer "
                                        f"records per batch")
    code = (exc.name or "error").lower().replace(" ", "_")
    body, status = _error(exc.code or 500, code, exc.description or code)
    # The headers the error must carry (a 405's Allow, RFC 9110 15.5.6); the body is ours, in JSON.
    return body, status, [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]


def _unexpected_error(exc: Exception):
    if isinstance(exc, (OperationalError, InterfaceError)) or type(exc).__module__.startswith("psycopg2"):
        log.error("database unavailable: %s", exc)
        return _error(503, "unavailable", "the hub's database is unavailable; nothing was stored: retry later")
    log.exception("unexpected error")
    return _error(500, "internal", "the hub failed; nothing was stored: retry later")
