"""The hub's roster API: a school pulls its roster feed and reports its own roster (docs/rosters.md)."""
from __future__ import annotations

import logging

from flask import Blueprint, request

from . import roster, services
from .signed import record_contact, signed_school

log = logging.getLogger(__name__)

bp = Blueprint("roster_api", __name__, url_prefix="/api/v1/roster")


def _count(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 18:
        raise services.HubError(f"{name} must be a whole number of at least 0", "bad_request")
    return int(value)


@bp.get("/changes")
def changes():
    """The signing school's roster feed after `after`, one bounded page."""
    school = signed_school(request.get_data(cache=False))
    wanted = request.args.get("school")
    if wanted is not None and wanted != school.id:
        raise services.WrongSchool(f"school {school.id!r} asked for the roster feed of {wanted!r}: a school can only "
                                   f"read its own")
    after = _count("after", 0)
    limit = _count("limit", roster.PAGE_LIMIT)
    record_contact(school)
    return roster.changes(school, after, limit)


@bp.post("/local")
def local():
    """The signing school's own roster: replaces what the hub held; answers what the hub adopted."""
    body = request.get_data(cache=False)
    school = signed_school(body, remember_nonce=False)  # the nonce is kept in the report's own transaction
    gzipped = request.headers.get("Content-Encoding", "").strip().lower() == "gzip"
    entries = roster.decode_report(body, gzipped)
    with roster.transaction():
        services.remember_nonce_of(school.id, request.headers)
        result = roster.store_report(school, entries)
    log.info("school %s reported %d people; adopted %d class move(s)", school.id, result.people, len(result.adopted))
    return {"people": result.people, "adopted": result.adopted}
