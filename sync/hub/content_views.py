"""Content downstream over HTTP: the national keys, the school's catalog, blobs, and the school's state.

`/api/v1/keys`, `/api/v1/catalog` and `/api/v1/state` are signed by the school like every sync
request; `/blobs/<sha256>` is public (reviewed content, checked by hash and signature at the school).
"""
from __future__ import annotations

import json
import logging
import zlib

from flask import Blueprint, Response, abort, current_app, request

from content_packs.serving import send_blob

from . import content, services
from .signed import record_contact, signed_school

log = logging.getLogger(__name__)

bp = Blueprint("content", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
MAX_STATE_BYTES = 4 * 1024 * 1024  # a state report inflated: 10,000 packs is well under a megabyte


def _signed_school(body: bytes) -> services.School:
    school = signed_school(body)
    record_contact(school)
    return school


def _data_dir():
    return current_app.config["HUB_SETTINGS"].data_dir


def _no_store(payload: dict) -> Response:
    response = current_app.json.response(payload)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/keys")
def keys():
    """The national signing keys (the current one first) and the rotation statements that link them: a
    school trusts a key only when its pinned key, or one linked to it, signed the hand-over."""
    _signed_school(request.get_data(cache=False))
    return _no_store({"keys": content.public_keys(_data_dir()), "rotations": content.rotations(_data_dir())})


def blob_base_url() -> str:
    """`[content] blob_base_url`, or this hub's own /blobs/ at the host the school asked for."""
    configured = current_app.config["HUB_SETTINGS"].content_blob_base_url
    # Behind a TLS proxy the hub sees plain HTTP (waitress drops X-Forwarded-* headers): the setting
    # must then name the https:// URL (docs/hub.md).
    return configured or f"{request.host_url}blobs/"


@bp.get("/api/v1/catalog")
def catalog():
    """The packs published to the signing school (newest version of each), and those withdrawn."""
    school = _signed_school(request.get_data(cache=False))
    return _no_store(content.catalog_for(school, blob_base_url()))


def _state_body() -> tuple[services.School, object]:
    body = request.get_data(cache=False)
    school = _signed_school(body)
    if request.mimetype != "application/json":
        raise services.HubError("send the state as JSON, with Content-Type: application/json", "bad_state")
    if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = inflater.decompress(body, MAX_STATE_BYTES + 1)
            if len(body) > MAX_STATE_BYTES or inflater.unconsumed_tail:
                raise services.HubError(f"the state inflates beyond {MAX_STATE_BYTES} bytes", "bad_state")
        except zlib.error:
            raise services.HubError("the state body is not valid gzip", "bad_state") from None
    try:
        return school, json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise services.HubError(f"the state is not UTF-8 JSON: {exc}", "bad_state") from None


@bp.post("/api/v1/state")
def state():
    """Keep the school's latest state: its packs and versions, free disk, downloads waiting."""
    school, body = _state_body()
    try:
        values = content.parse_state(body)
    except content.StateError as exc:
        raise services.HubError(str(exc), "bad_state") from None
    content.store_state(school.id, values)
    return {"ok": True}


@bp.get("/blobs/<sha256>")
def blob(sha256: str):
    """A file of a published pack, by the SHA-256 of its bytes: never changes, Range for resuming."""
    path = content.blob_path(_data_dir(), sha256)
    if path is None:
        abort(404)
    # Conditionals and ranges as the school's /content answers them (one helper, RFC 9110).
    response = send_blob(request, path, sha256, "application/octet-stream")
    if response.status_code == 404:
        abort(404)
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
