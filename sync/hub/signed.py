"""The school behind a signed API request, for every blueprint of the hub's API."""
from __future__ import annotations

import logging

from flask import request

from sync import protocol

from . import services

log = logging.getLogger(__name__)


def signed_school(body: bytes, remember_nonce: bool = True) -> services.School:
    """The school that signed the current request (services.AuthError otherwise, logged)."""
    path = protocol.path_with_query(request.path, request.query_string)
    try:
        return services.authenticate(request.method, path, body, request.headers, remember_nonce=remember_nonce)
    except services.AuthError as exc:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote_addr, exc.code)
        raise


def record_contact(school: services.School) -> None:
    """Note that the school's agent was in touch now, and its version (from its User-Agent)."""
    services.touch(school, protocol.agent_version_from_user_agent(request.headers.get("User-Agent")))
