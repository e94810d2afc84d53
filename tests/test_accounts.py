"""Sign-in for staff and children, sessions, CSRF, rate limits, first run."""
from __future__ import annotations

import pytest
import requests
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.models import Classroom, LoginFailure, User

from .helpers import PASSWORD, csrf_of, post, sign_in_as, sign_in_staff


def test_everything_but_signin_needs_a_session(client, school):
    for path in ("/", "/learn/", "/coach/", "/admin/", "/account"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/signin")
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/signin").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_staff_sign_in_and_out(client, school):
    response = sign_in_staff(client, "teacher")
    assert response.status_code == 302 and response.headers["Location"] == "/coach/"
    page = client.get("/coach/").get_data(as_text=True)
    assert "5А" in page and "9В" not in page  # only their own classes
    assert post(client, "/signout").status_code == 302
    assert client.get("/coach/").status_code == 302


def test_wrong_password_and_unknown_user_say_the_same(client, school):
    wrong = sign_in_staff(client, "teacher", "not-the-password")
    unknown = sign_in_staff(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password" in wrong.get_data(as_text=True)
    assert "Wrong username or password" in unknown.get_data(as_text=True)


def test_next_is_followed_only_on_this_server(client, school):
    token = csrf_of(client)
    response = client.post("/signin/staff", data={"username": "teacher", "password": PASSWORD,
                                                  "csrf_token": token, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/coach/"
    client.post("/signout", data={"csrf_token": csrf_of(client)})
    response = client.post("/signin/staff", data={"username": "teacher", "password": PASSWORD,
                                                  "csrf_token": csrf_of(client), "next": "/account"})
    assert response.headers["Location"] == "/account"


def test_student_signs_in_with_pin(client, school):
    page = client.get(f"/signin/class/{school.pin_class.id}").get_data(as_text=True)
    assert "Әлия Нұрланқызы" in page
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    bad = post(client, url, {"pin": "0000"})
    assert bad.status_code == 401 and "PIN is not right" in bad.get_data(as_text=True)
    good = post(client, url, {"pin": "4321"})
    assert good.status_code == 302 and good.headers["Location"] == "/learn/"
    assert "Әлия Нұрланқызы" in client.get("/learn/").get_data(as_text=True)


def test_student_signs_in_with_picture_code(client, school):
    url = f"/signin/class/{school.picture_class.id}/student/{school.picture_student.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="picture2"' in page
    bad = post(client, url, {"picture0": "cat", "picture1": "apple", "picture2": "sun"})
    assert bad.status_code == 401
    good = post(client, url, {"picture0": "cat", "picture1": "sun", "picture2": "apple"})
    assert good.status_code == 302


def test_name_only_class_signs_in_by_tapping_the_name(client, school):
    url = f"/signin/class/{school.other_class.id}/student/{school.other_student.id}"
    assert post(client, url).status_code == 302
    assert client.get("/learn/").status_code == 200


def test_student_cannot_sign_in_through_another_class(client, school):
    url = f"/signin/class/{school.other_class.id}/student/{school.student.id}"
    assert post(client, url).status_code == 404


def test_csrf_is_required_on_every_state_change(client, school):
    response = client.post("/signin/staff", data={"username": "teacher", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    csrf_of(client)
    response = client.post("/signin/staff", data={"username": "teacher", "password": PASSWORD,
                                                  "csrf_token": "forged"})
    assert response.status_code == 400
    sign_in_as(client, school, "teacher")
    response = client.post(f"/coach/class/{school.pin_class.id}/signin-mode", data={"mode": "name"})
    assert response.status_code == 400
    assert Classroom.get_by_id(school.pin_class.id).signin_mode == "pin"
    assert client.post("/api/v1/me").status_code in (400, 405)


def test_account_rate_limit_locks_after_the_allowed_failures(client, school, app):
    limit = app.config["CLASSROOM_SETTINGS"].security_account_attempts
    for _ in range(limit):
        assert sign_in_staff(client, "teacher", "wrong-password").status_code == 401
    locked = sign_in_staff(client, "teacher")  # even the right password waits now
    assert locked.status_code == 429
    assert "Too many wrong attempts" in locked.get_data(as_text=True)
    # another account from the same address is not locked by this one
    assert sign_in_staff(client, "other").status_code == 302


def test_address_rate_limit_covers_guessing_many_accounts(client, school, app, settings):
    app.config["CLASSROOM_SETTINGS"] = settings.replace(security_address_attempts=3)
    for name in ("a1", "a2", "a3"):
        assert sign_in_staff(client, name, "wrong-password").status_code == 401
    assert sign_in_staff(client, "teacher").status_code == 429


def test_pin_guessing_is_rate_limited(client, school):
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    for guess in ("0000", "1111", "2222", "3333", "5555"):
        assert post(client, url, {"pin": guess}).status_code == 401
    assert post(client, url, {"pin": "4321"}).status_code == 429


def test_success_clears_the_account_failures(client, school):
    sign_in_staff(client, "teacher", "wrong-password")
    assert LoginFailure.select().count() == 2  # the account and the address
    assert sign_in_staff(client, "teacher").status_code == 302
    # This try took back its own counts and forgave the account's; the address keeps its wrong try.
    assert [f.key for f in LoginFailure.select()] == ["address:127.0.0.1"]


def test_password_change_signs_out_other_sessions(app, school):
    first, second = app.test_client(), app.test_client()
    sign_in_staff(first, "teacher")
    sign_in_staff(second, "teacher")
    response = post(first, "/account/password", {"current": PASSWORD, "password": "new-password-1",
                                                  "password2": "new-password-1"})
    assert response.status_code == 302
    assert first.get("/coach/").status_code == 200
    assert second.get("/coach/").status_code == 302
    assert sign_in_staff(app.test_client(), "teacher", "new-password-1").status_code == 302


def test_first_run_page_creates_the_admin_then_disappears(client):
    assert client.get("/signin").headers["Location"] == "/setup"
    form = {"display_name": "IT", "username": "it", "password": "short", "password2": "short"}
    response = post(client, "/setup", form)
    assert response.status_code == 400 and "at least 8" in response.get_data(as_text=True)
    assert User.select().count() == 0
    form.update(password="long-enough-1", password2="long-enough-1", school_name="Школа №1")
    response = post(client, "/setup", form)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/setup").status_code == 404


def test_session_cookie_is_httponly_and_samesite(live_server, school):
    session = requests.Session()
    page = session.get(live_server + "/signin")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Content-Security-Policy" in page.headers


def test_a_sign_in_mode_change_is_one_transaction_with_clearing_the_pins(client, school):
    """The class's new mode and its students' cleared PINs are one change: when clearing the PINs
    fails (here the database refuses it), the class keeps its mode and every PIN still works."""
    sign_in_as(client, school, "teacher")
    database.execute_sql('CREATE TRIGGER keep_secrets BEFORE UPDATE OF secret_hash ON "user" '
                         "BEGIN SELECT RAISE(ABORT, 'the disk refused'); END")
    try:
        with pytest.raises(PeeweeDatabaseError):
            post(client, f"/coach/class/{school.pin_class.id}/signin-mode", {"mode": "picture"})
    finally:
        database.execute_sql("DROP TRIGGER keep_secrets")
    assert Classroom.get_by_id(school.pin_class.id).signin_mode == "pin"
    assert User.get_by_id(school.student.id).secret_hash is not None

    assert post(client, f"/coach/class/{school.pin_class.id}/signin-mode", {"mode": "picture"}).status_code == 302
    assert Classroom.get_by_id(school.pin_class.id).signin_mode == "picture"
    assert User.get_by_id(school.student.id).secret_hash is None


def test_end_sessions_signs_a_person_out_everywhere(app, school):
    """One rule for "sign this person out everywhere": a new password, a new PIN."""
    version = User.get_by_id(school.student.id).session_version
    accounts.end_sessions(school.student)
    assert User.get_by_id(school.student.id).session_version == version + 1
    accounts.set_student_secret(school.student, school.pin_class, "1111")
    assert User.get_by_id(school.student.id).session_version == version + 2
    accounts.set_password(school.teacher, "another long password 42")
    assert User.get_by_id(school.teacher.id).session_version == school.teacher.session_version + 1
