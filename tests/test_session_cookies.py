"""Session cookies are verified once and remembered; what is remembered still expires and cannot be forged."""
from __future__ import annotations

import time

import pytest

from classroom_server.models import User

SESSION_COOKIE = "classroom_session"


def signed(app, data: dict, seconds_ago: int = 0) -> str:
    """A session cookie signed with this school's key, as if `seconds_ago` seconds before now."""
    serializer = app.session_interface.get_signing_serializer(app)

    class Then(serializer.signer):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds_ago

    serializer.signer = Then
    return serializer.dumps(data)


def me(client, cookie: str) -> int:
    client.set_cookie(SESSION_COOKIE, cookie)
    return client.get("/api/v1/me").status_code


@pytest.fixture
def session_of(school):
    student = User.get_by_id(school.student.id)
    return {"uid": student.id, "ver": student.session_version, "sid": "test-session", "csrf": "token",
            "_permanent": True}


def test_the_same_cookie_again_is_still_signed_in(app, client, session_of):
    cookie = signed(app, session_of)
    assert [me(client, cookie) for _ in range(3)] == [200, 200, 200]


def test_a_remembered_cookie_still_expires(app, client, session_of):
    day = 24 * 3600
    cookie = signed(app, session_of, seconds_ago=day)
    app.permanent_session_lifetime = 2 * day
    assert me(client, cookie) == 200  # verified and remembered
    app.permanent_session_lifetime = day // 2  # now it is too old, remembered or not
    assert me(client, cookie) == 401
    assert me(client, signed(app, session_of, seconds_ago=-60)) == 401  # signed in the future


@pytest.mark.parametrize("tamper", [
    lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # the signature
    lambda c: c.replace(".", "x.", 1),  # the data
])
def test_a_forged_cookie_signs_no_one_in_however_often_it_comes(app, client, session_of, tamper):
    forged = tamper(signed(app, session_of))
    assert [me(client, forged) for _ in range(2)] == [401, 401]
