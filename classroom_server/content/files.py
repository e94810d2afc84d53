"""Sending a stored file: content_packs.serving's RFC 9110 helper, for this request."""
from __future__ import annotations

from pathlib import Path

from flask import request
from werkzeug.wrappers import Response

from content_packs.serving import send_blob as _send_blob


def send_blob(path: Path, etag: str, mimetype: str) -> Response:
    """Answer GET/HEAD for `path` with its strong `etag`: 200, 206 (one range), 304, 412 or 416."""
    return _send_blob(request, path, etag, mimetype)
