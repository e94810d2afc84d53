"""Sessions and sign-in against a stolen cookie and a guesser: sign-out ends the session on the
server, tries are counted before the slow hash (also 40 at once), lockouts are per account and
device with growing waits, an administrator can unlock, and `next=` never leaves this server."""
from __future__ import annotations

import concurrent.futures
import datetime
import json
import threading

import pytest
import requests

from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.models import AuditLog, LoginFailure, utcnow
from classroom_server.security import safe_next

from .helpers import PASSWORD, csrf_of, form_token, post, serving, sign_in_staff

SESSION_COOKIE = "classroom_session"


def device(app, address: str):
    """A browser on another device of the school LAN."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# --- Signing out ----------------------------------------------------------------------------------

def test_a_copied_cookie_stops_working_when_its_owner_signs_out(app, school):
    phone, laptop = app.test_client(), app.test_client()
    sign_in_staff(phone, "teacher")
    sign_in_staff(laptop, "teacher")
    stolen = app.test_client()
    stolen.set_cookie(SESSION_COOKIE, phone.get_cookie(SESSION_COOKIE).value)
    assert stolen.get("/coach/").status_code == 200
    assert post(phone, "/signout").status_code == 302
    assert phone.get("/coach/").status_code == 302
    assert stolen.get("/coach/").status_code == 302  # the copy is signed out with it
    assert stolen.get("/api/v1/me").status_code == 401
    # The same teacher's other sign-in (the classroom laptop) is not touched.
    assert laptop.get("/coach/").status_code == 200


def test_signing_in_again_ends_the_previous_session_of_that_browser(app, school):
    client = app.test_client()
    sign_in_staff(client, "teacher")
    before = client.get_cookie(SESSION_COOKIE).value
    sign_in_staff(client, "other")
    copy = app.test_client()
    copy.set_cookie(SESSION_COOKIE, before)
    assert copy.get("/api/v1/me").status_code == 401


def test_a_copied_cookie_stops_working_on_a_real_server(live_server, school):
    browser = requests.Session()
    page = browser.get(live_server + "/signin")
    token = form_token(page.text)
    signed_in = browser.post(live_server + "/signin/staff", allow_redirects=False,
                             data={"username": "teacher", "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302
    cookie = browser.cookies[SESSION_COOKIE]
    me = lambda: requests.get(live_server + "/api/v1/me", cookies={SESSION_COOKIE: cookie})  # noqa: E731
    assert me().status_code == 200
    csrf = me().json()["csrf_token"]
    assert browser.post(live_server + "/signout", data={"csrf_token": csrf}, allow_redirects=False).status_code == 302
    assert me().status_code == 401


# --- Counting tries -------------------------------------------------------------------------------

def test_forty_wrong_tries_at_once_are_never_checked_beyond_the_limit(live_server, school, app):
    limit = app.config["CLASSROOM_SETTINGS"].security_account_attempts
    browsers = []
    for _ in range(40):
        browser = requests.Session()
        token = form_token(browser.get(live_server + "/signin").text)
        browsers.append((browser, token))

    def attempt(pair):
        browser, token = pair
        return browser.post(live_server + "/signin/staff", allow_redirects=False,
                            data={"username": "teacher", "password": "wrong-password", "csrf_token": token}).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(attempt, browsers))
    assert statuses.count(401) == limit, statuses  # checked: exactly as many as allowed
    assert statuses.count(429) == 40 - limit
    with app.app_context():
        key = f"account:teacher|127.0.0.1"
        assert LoginFailure.select().where(LoginFailure.key == key).count() == limit


@pytest.mark.slow  # a real server: worker processes, each with request threads
def test_a_class_behind_one_router_signing_in_at_once_with_right_pins_all_get_in(app, school, settings):
    """A class behind one NAT'ed Wi-Fi router presses "enter" in the same second, every PIN right.
    Each try is counted as wrong until its PIN is checked; with more request threads in all the
    processes (2 x 8) than the address may have wrong tries (10), all those counts at once would
    lock the router's address out, though nobody typed anything wrong."""
    students = 16
    with app.app_context():
        made = []
        for number in range(students):
            student = accounts.create_user(None, f"Student {number:02d}", "student")
            accounts.enrol(student, school.pin_class)
            accounts.set_student_secret(student, school.pin_class, f"{1000 + number}")  # the real (slow) hash
            made.append((student.id, f"{1000 + number}"))
    database.close()
    (settings.data_dir / "classroom-server.ini").write_text("[security]\naddress_attempts = 10\n")
    with serving(settings.data_dir, "--workers", "2", "--threads", "8") as (_, url):
        ready = threading.Barrier(students)

        def sign_in(made_student):
            student_id, pin = made_student
            page = f"{url}/signin/class/{school.pin_class.id}/student/{student_id}"
            with requests.Session() as tablet:
                token = form_token(tablet.get(page, timeout=30).text)
                ready.wait(timeout=60)  # every tablet has its form: "enter" at once
                answer = tablet.post(page, data={"pin": pin, "csrf_token": token}, allow_redirects=False,
                                     timeout=60)
                return answer.status_code, answer.headers.get("Location", "")

        with concurrent.futures.ThreadPoolExecutor(max_workers=students) as pool:
            answers = list(pool.map(sign_in, made))
    assert [status for status, _ in answers] == [302] * students  # none 429
    assert all(location.endswith("/learn/") for _, location in answers), answers


# --- Lockouts per account and device, growing waits ------------------------------------------------

def test_one_device_cannot_lock_the_administrator_out(app, school):
    limit = app.config["CLASSROOM_SETTINGS"].security_account_attempts
    guesser = device(app, "10.0.0.66")
    for _ in range(limit + 3):
        assert sign_in_staff(guesser, "boss", "wrong-password").status_code in (401, 429)
    assert sign_in_staff(guesser, "boss").status_code == 429
    assert sign_in_staff(device(app, "10.0.0.2"), "boss").status_code == 302


def test_one_device_cannot_lock_a_class_out(app, school):
    guesser = device(app, "10.0.0.66")
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    for guess in ("0000", "1111", "2222", "3333", "5555"):
        assert post(guesser, url, {"pin": guess}).status_code == 401
    assert post(guesser, url, {"pin": "4321"}).status_code == 429
    assert post(device(app, "10.0.0.7"), url, {"pin": "4321"}).status_code == 302


def age_failures(key: str, minutes: float) -> None:
    for failure in LoginFailure.select().where(LoginFailure.key == key):
        failure.created_at -= datetime.timedelta(minutes=minutes)
        failure.save()


def test_waits_grow_with_each_wrong_try(app, school):
    settings = app.config["CLASSROOM_SETTINGS"]
    limit, longest = settings.security_account_attempts, settings.security_lockout_minutes
    key = "account:teacher|127.0.0.1"
    client = app.test_client()
    for _ in range(limit):
        assert sign_in_staff(client, "teacher", "wrong-password").status_code == 401
    waits = []
    for _ in range(6):
        locked = sign_in_staff(client, "teacher", "wrong-password")
        assert locked.status_code == 429
        waits.append(locked.get_data(as_text=True).split("Wait ")[1].split(" minutes")[0])
        # Let the wait pass (as if that many minutes went by), then one more wrong try.
        age_failures(key, int(waits[-1]))
        LoginFailure.delete().where(LoginFailure.key == "address:127.0.0.1").execute()
        assert sign_in_staff(client, "teacher", "wrong-password").status_code == 401
    assert waits == ["1", "2", "4", "8", str(min(16, longest)), str(longest)]
    assert [accounts._wait(n, accounts.Limits.of(settings)).total_seconds() / 60
            for n in range(limit - 1, limit + 6)] == [0, 1, 2, 4, 8, min(16, longest), longest]


def test_an_administrator_unlocks_an_account_and_it_is_audited(app, school):
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    tablet = device(app, "10.0.0.31")
    for guess in ("0000", "1111", "2222", "3333", "5555"):
        post(tablet, url, {"pin": guess})
    assert post(tablet, url, {"pin": "4321"}).status_code == 429
    admin = app.test_client()
    sign_in_staff(admin, "boss")
    page = admin.get(f"/admin/users/{school.student.id}").get_data(as_text=True)
    assert "5 wrong tries from 10.0.0.31" in page and "Locked until" in page
    unlocked = post(admin, f"/admin/users/{school.student.id}/unlock")
    assert unlocked.status_code == 302
    assert "No wrong sign-ins in the last day" in admin.get(f"/admin/users/{school.student.id}").get_data(as_text=True)
    assert post(tablet, url, {"pin": "4321"}).status_code == 302
    entry = AuditLog.get(AuditLog.action == "user.unlock")
    assert entry.actor_id == school.admin.id and json.loads(entry.details)["user_id"] == school.student.id
    assert "Sign-in unlocked" in admin.get("/admin/audit").get_data(as_text=True)


@pytest.mark.parametrize("lang, text", [("kk", "Кіруді"), ("ru", "Разблокировать"), ("en", "Unlock sign-in")])
def test_the_unlock_button_speaks_each_language(app, school, lang, text):
    sign_in_staff(device(app, "10.0.0.31"), "teacher", "wrong-password")
    admin = app.test_client()
    sign_in_staff(admin, "boss")
    page = admin.get(f"/admin/users/{school.teacher.id}", headers={"Accept-Language": lang}).get_data(as_text=True)
    assert text in page


# --- next= ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, followed", [
    ("/account", "/account"),
    ("/library/?q=a%20b", "/library/?q=a%20b"),
    ("/coach/class/1?x=//y", "/coach/class/1?x=//y"),
    ("/\tac\ncount", "/account"),  # control characters are dropped, as browsers drop them
    ("//evil.example/x", None),
    ("/\t/evil.example", None),
    ("/\n/evil.example", None),
    ("/\r\n/evil.example", None),
    ("\x00//evil.example", None),
    (" //evil.example", None),
    ("/\\evil.example", None),
    ("\\\\evil.example", None),
    ("\\/evil.example", None),
    ("https:evil.example", None),
    ("https://evil.example/", None),
    ("javascript:alert(1)", None),
    ("http:/evil.example", None),
    ("evil.example", None),
    ("", None),
    (None, None),
])
def test_next_stays_on_this_server(target, followed):
    assert safe_next(target) == followed


@pytest.mark.parametrize("target", ["/\t/evil.example", "\\\\evil.example", "https:evil.example"])
def test_sign_in_never_sends_a_browser_away(client, school, target):
    response = client.post("/signin/staff", data={"username": "teacher", "password": PASSWORD,
                                                  "csrf_token": csrf_of(client), "next": target})
    assert response.headers["Location"] == "/coach/"
