"""The hub's HTTP API (sync protocol v1): ping, the school's cursor, and record batches."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, jsonify, request

from sync import protocol

from . import services
from .signed import record_contact, signed_school

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/ping")
def ping():
    """Cheap and unsigned: the agent's link probe and clock check."""
    return {"protocol": protocol.PROTOCOL_VERSION, "hub": current_app.config["HUB_NAME"],
            "time": int(time.time())}


@bp.get("/records/cursor")
def cursor():
    school = signed_school(request.get_data(cache=False))
    record_contact(school)
    return {"acked": school.acked}


@bp.post("/records")
def records():
    body = request.get_data(cache=False)  # Flask refuses more than MAX_CONTENT_LENGTH with a 413
    school = signed_school(body, remember_nonce=False)  # ingest records the nonce in the batch's transaction
    if request.headers.get("Content-Encoding", "").strip().lower() != "gzip":
        raise services.HubError("send the batch gzip-compressed, with Content-Encoding: gzip", "bad_batch")
    try:
        result = services.ingest(school, body, request.headers)
    except services.AuthError as exc:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote_addr, exc.code)
        raise
    log.debug("school %s: stored %d, duplicates %d, acked %d", school.id, result.stored, result.duplicates,
              result.acked)
    return {"acked": result.acked, "stored": result.stored, "duplicates": result.duplicates}


@bp.get("/openapi.json")
def openapi():
    return jsonify(current_app.config["OPENAPI"])
