"""The school's JSON API against its own OpenAPI description, with schemathesis (from PyPI).

A bounded run over every operation of `/api/v1/openapi.json` on a real waitress server, signed in
as a student and as a teacher (the session cookie, and the CSRF token in X-CSRF-Token): data that
fits the description and data that does not. It finds no 5xx, no status, content type or body
outside the description, and no request that breaks a declared constraint (minLength, maxLength,
enum, minimum, type) accepted.
"""
from __future__ import annotations

import pytest
import requests

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis needs Python 3.11 or newer")

from hypothesis import HealthCheck, given, settings  # noqa: E402  (schemathesis brings hypothesis)
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance, negative_data_rejection, not_a_server_error, response_schema_conformance,
    status_code_conformance)
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from .helpers import PASSWORD  # noqa: E402
from .practicepack import pack  # noqa: E402,F401  (the practice pack: exercises to answer)

# Property-based: a few hundred generated requests against a real waitress server.
pytestmark = pytest.mark.slow

EXAMPLES = 25  # per operation, role and mode: a few hundred requests in all
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def signed_in(live_server: str, school, role: str) -> requests.Session:
    """A browser's session: signed in through the web page, with the CSRF token /me gives."""
    session = requests.Session()
    session.trust_env = False
    page = session.get(f"{live_server}/signin/staff")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    if role == "teacher":
        answer = session.post(f"{live_server}/signin/staff", data={"username": "teacher", "password": PASSWORD,
                                                                    "csrf_token": token}, allow_redirects=False)
    else:
        answer = session.post(f"{live_server}/signin/class/{school.pin_class.id}/student/{school.student.id}",
                              data={"pin": "4321", "csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    session.headers["X-CSRF-Token"] = session.get(f"{live_server}/api/v1/me").json()["csrf_token"]
    return session


@pytest.mark.parametrize("role", ["student", "teacher"])
def test_the_api_keeps_to_its_openapi_description(live_server, school, pack, role):
    session = signed_in(live_server, school, role)
    schema = schemathesis.openapi.from_url(f"{live_server}/api/v1/openapi.json")
    problems = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal calls
                calls += 1
                response = case.call(base_url=live_server, session=session, timeout=30)
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as group:  # collect every failure, then show them all
                    for failure in group.exceptions:
                        problems.append(f"{role} {mode.value} {operation.label} {case.query or ''} "
                                        f"{str(case.body)[:200] if case.body is not None else ''} -> "
                                        f"{response.status_code} {response.text[:300]}\n  {failure}")

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to break (no input)
    assert calls >= 100
    assert not problems, "\n\n".join(problems[:10])
