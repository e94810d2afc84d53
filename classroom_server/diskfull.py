"""A full disk: pages and content files keep being served (they only read), and a write that cannot
be stored is answered 507 Insufficient Storage with a message for the person at the screen, not a
500. SQLite rolls the refused transaction back, so nothing stored before is touched."""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from flask import Flask, current_app, render_template
from flask_babel import gettext as _
from peewee import OperationalError as PeeweeOperationalError

from . import security
from .db import is_disk_full

log = logging.getLogger(__name__)

_NEARLY_FULL = 4 * 1024 * 1024  # a database error with less than this free is put down to the disk
_LOG_EVERY = 60.0  # seconds: a full disk refuses every answer, and the log must not repeat each one
_logged = {"at": -_LOG_EVERY, "since": 0}
_log_lock = threading.Lock()


def _nearly_full() -> bool:
    try:
        stats = os.statvfs(current_app.config["CLASSROOM_SETTINGS"].data_dir)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _NEARLY_FULL


def _refuse(exc: Exception):
    database_error = isinstance(exc, (PeeweeOperationalError, sqlite3.OperationalError))
    if not (is_disk_full(exc) or (database_error and _nearly_full())):
        raise exc  # not ours: Flask answers 500 and logs it
    with _log_lock:
        _logged["since"] += 1
        now = time.monotonic()
        if now - _logged["at"] >= _LOG_EVERY:
            log.error("the disk is full: %d write(s) refused since the last such message; free disk space where "
                      "%s is (%s)", _logged["since"], current_app.config["CLASSROOM_SETTINGS"].data_dir, exc)
            _logged["at"], _logged["since"] = now, 0
    message = _("The school server's disk is full, so this was not saved. Please tell the school's IT "
                "person. Lessons and books still open.")
    if security.wants_json():
        return security.json_error(507, "disk_full", message)
    return render_template("disk_full.html", message=message), 507


def init_app(app: Flask) -> None:
    for kind in (PeeweeOperationalError, sqlite3.OperationalError, OSError):
        app.register_error_handler(kind, _refuse)
