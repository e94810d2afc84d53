"""The school behind a signed API request, for every blueprint of the hub's API, and the signature on
the hub's answer to it (sync/PROTOCOL.md section 2: the agent acts on no answer it cannot authenticate)."""
from __future__ import annotations

import logging

from flask import Response, g, request

from sync import protocol

from . import services

log = logging.getLogger(__name__)


def signed_school(body: bytes, remember_nonce: bool = True) -> services.School:
    """The school that signed the current request (services.AuthError otherwise, logged)."""
    path = protocol.path_with_query(request.path, request.query_string)
    try:
        school = services.authenticate(request.method, path, body, request.headers, remember_nonce=remember_nonce)
    except services.AuthError as exc:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote_addr, exc.code)
        raise
    # Whatever is answered from here on (a refusal too) is signed for this school and this request.
    g.answer_key = (school.secret, request.method, path,
                    protocol.header(request.headers, protocol.HEADER_NONCE).strip())
    return school


def sign_answer(response: Response) -> Response:
    """after_request: the HMAC of the answer to a signed request, under the school's secret, bound to the
    request's nonce; answers to unsigned requests (ping, blobs) and refused signatures carry none."""
    key = g.pop("answer_key", None)
    if key is not None and not response.direct_passthrough and not response.is_streamed:
        secret, method, path, nonce = key
        response.headers[protocol.HEADER_ANSWER_SIGNATURE] = protocol.sign_answer(
            secret, method, path, nonce, response.status_code, response.get_data())
    return response


def record_contact(school: services.School) -> None:
    """Note that the school's agent was in touch now, and its version (from its User-Agent)."""
    services.touch(school, protocol.agent_version_from_user_agent(request.headers.get("User-Agent")))
