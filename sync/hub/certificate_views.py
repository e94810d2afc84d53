"""The hub's certificate API: a school sends its CSR and fetches its newest HTTPS certificate (docs/https.md)."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, request

from . import certificates, services
from .signed import record_contact, signed_school

log = logging.getLogger(__name__)

bp = Blueprint("certificate_api", __name__, url_prefix="/api/v1")


class NotOffered(services.HubError):
    status = 404
    code = "not_offered"


def _settings():
    settings = current_app.config["HUB_SETTINGS"]
    if not certificates.offered(settings):
        raise NotOffered("this hub offers no HTTPS certificates for schools ([acme] is not set up)")
    return settings


@bp.get("/certificate")
def certificate():
    """The signing school's names, the key the hub holds a CSR for, and the newest certificate for it."""
    school = signed_school(request.get_data(cache=False))
    settings = _settings()
    record_contact(school)
    return certificates.state_for(settings, school, request.args.get("have"))


@bp.post("/certificate")
def certificate_request():
    """The signing school's CSR (JSON {"csr": PEM}); the next issuing pass orders its certificate."""
    body = request.get_data(cache=False)
    school = signed_school(body)
    settings = _settings()
    try:
        pem = json.loads(body.decode("utf-8")).get("csr")
    except (UnicodeDecodeError, ValueError, AttributeError):
        pem = None
    if not isinstance(pem, str):
        raise services.HubError('send JSON {"csr": "-----BEGIN CERTIFICATE REQUEST-----..."}', "bad_csr")
    try:
        row = certificates.store_csr(settings, school, pem)
    except certificates.CsrError as exc:
        raise services.HubError(f"the certificate signing request is refused: {exc}", "bad_csr") from None
    log.info("school %s sent a CSR for %s", school.id, ", ".join(row.names))
    return {"names": row.names, "key_sha256": row.key_sha256}, 202
