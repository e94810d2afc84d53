"""Operator accounts on the real hub on loopback: the school register (Windows-1251, `;`), levels and
their scope in every route (pages, JSON, CSV), who may create whom, sessions, CSRF, the audit log.

On PostgreSQL (a fresh schema for this module) when CLASSROOM_TEST_POSTGRES_URL names a server,
on a SQLite file otherwise.
"""
from __future__ import annotations

import csv
import io
import re
import subprocess

import pytest

from sync.hub import operators, services
from sync.hub.models import AuditEntry, Operator
from tests.hubprocess import console_script
from tests.hubtesting import http
from tests.hubtesting import hub_database_url  # noqa: F401  (a module fixture, and the modules using `hub` import it)
from tests.hubworld import PASSWORD, base_env, csrf_of, sign_in
from tests.hubworld import hub, world  # noqa: F401  (fixtures)


def schools_seen(session, hub, route: str) -> set[str]:
    answer = session.get(hub.url + route, timeout=30)
    assert answer.status_code == 200, (route, answer.text)
    if route.endswith(".json"):
        return {s["school_id"] for s in answer.json()["schools"]}
    if route.endswith(".csv"):
        return {row["school_id"] for row in csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")))}
    return set(re.findall(r'data-school="([^"]+)"', answer.text))


@pytest.mark.parametrize("username", ["minister", "aktobe", "atyrau", "kargaly", "director"])
@pytest.mark.parametrize("route", ["/ops/", "/ops/schools.json", "/ops/schools.csv"])
def test_each_level_sees_exactly_its_schools(hub, world, username, route):
    session = sign_in(hub, username)
    assert session.answer.status_code == 303
    assert schools_seen(session, hub, route) == world["visible"][username]


@pytest.mark.parametrize("username", ["minister", "aktobe", "atyrau", "kargaly", "director"])
def test_a_school_outside_the_scope_is_not_found(hub, world, username):
    session = sign_in(hub, username)
    for key, school_id in world["ids"].items():
        answer = session.get(f"{hub.url}/ops/schools/{school_id}", timeout=30)
        expected = 200 if school_id in world["visible"][username] else 404
        assert answer.status_code == expected, (username, key, answer.status_code)
        if expected == 404:
            assert school_id not in answer.text or "no such school" in answer.text


@pytest.mark.parametrize("route", ["/ops/", "/ops/schools/x", "/ops/users", "/ops/audit"])
def test_pages_need_a_signed_in_operator(hub, world, route):
    answer = http().get(hub.url + route, allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and "/ops/login" in answer.headers["Location"]


@pytest.mark.parametrize("route", ["/ops/schools.json", "/ops/schools.csv"])
def test_data_needs_a_signed_in_operator(hub, world, route):
    answer = http().get(hub.url + route, timeout=30)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"


# (creator, level, place, allowed)
CREATIONS = [
    ("minister", "region", {"region": "Атырауская"}, True),
    ("minister", "ministry", {}, False),
    ("aktobe", "district", {"district": "Хромтауский"}, True),
    ("aktobe", "district", {"region": "Атырауская", "district": "Индерский"}, False),
    ("aktobe", "region", {"region": "Актюбинская"}, False),
    ("aktobe", "school", {"school": "KZ-3"}, True),
    ("aktobe", "school", {"school": "KZ-4"}, False),
    ("kargaly", "school", {"school": "KZ-2"}, True),
    ("kargaly", "school", {"school": "KZ-3"}, False),
    ("kargaly", "district", {"district": "Каргалинский"}, False),
    ("atyrau", "district", {"district": "Нет такого"}, False),
]


@pytest.mark.parametrize("creator, level, place, allowed", CREATIONS)
def test_who_may_create_whom(hub, world, creator, level, place, allowed):
    session = sign_in(hub, creator)
    username = f"new-{creator}-{level}-{abs(hash(str(place))) % 10_000}"
    answer = session.post(hub.url + "/ops/users", data={"csrf": csrf_of(session, hub), "username": username,
                                                        "password": "a new password 1", "level": level, **place},
                          timeout=30)
    made = Operator.get_or_none(Operator.username == username)
    assert (made is not None) == allowed, answer.text
    assert answer.status_code == (200 if allowed else 400)
    if allowed:  # the new operator signs in and sees only their scope
        assert made.created_by == creator
        seen = schools_seen(sign_in(hub, username, "a new password 1"), hub, "/ops/schools.json")
        assert seen and seen <= world["visible"][creator]
    entry = AuditEntry.select().where((AuditEntry.operator == creator) & (AuditEntry.action == "user_create")
                                      ).order_by(AuditEntry.id.desc()).first()
    assert entry.detail["username"] == username and entry.detail["status"] == answer.status_code


def test_a_director_manages_no_one(hub, world):
    session = sign_in(hub, "director")
    assert session.get(hub.url + "/ops/users", timeout=30).status_code == 403
    assert session.post(hub.url + "/ops/users", data={"csrf": csrf_of(session, hub), "username": "x",
                                                      "password": PASSWORD, "level": "school"},
                        timeout=30).status_code == 403


def test_a_post_without_the_csrf_token_is_refused(hub, world):
    session = sign_in(hub, "minister")
    answer = session.post(hub.url + "/ops/users", data={"username": "csrf-victim", "password": PASSWORD,
                                                        "level": "region", "region": "Атырауская"}, timeout=30)
    assert answer.status_code == 400 and Operator.get_or_none(Operator.username == "csrf-victim") is None
    assert session.post(hub.url + "/ops/logout", data={"csrf": "forged"}, timeout=30).status_code == 400
    assert session.get(hub.url + "/ops/schools.json", timeout=30).status_code == 200  # still signed in
    login = http().post(hub.url + "/ops/login", data={"username": "minister", "password": PASSWORD},
                        allow_redirects=False, timeout=30)
    assert login.status_code == 400  # a sign-in form posted from elsewhere


def test_sign_out_ends_the_session(hub, world):
    session = sign_in(hub, "kargaly")
    cookie = session.cookies.get("hub_session")
    assert session.post(hub.url + "/ops/logout", data={"csrf": csrf_of(session, hub)}, allow_redirects=False,
                        timeout=30).status_code == 303
    stolen = http()
    stolen.cookies.set("hub_session", cookie)
    assert stolen.get(hub.url + "/ops/schools.json", timeout=30).status_code == 401


def test_wrong_passwords_and_disabled_accounts(hub, world):
    assert sign_in(hub, "atyrau", "wrong password!").answer.status_code == 401
    assert sign_in(hub, "nobody-at-all", PASSWORD).answer.status_code == 401
    operators.create_operator("leaver", PASSWORD, "region", region="Атырауская")
    session = sign_in(hub, "leaver")
    assert session.get(hub.url + "/ops/schools.json", timeout=30).status_code == 200
    operators.disable_operator("leaver")
    assert session.get(hub.url + "/ops/schools.json", timeout=30).status_code == 401
    assert sign_in(hub, "leaver").answer.status_code == 401
    for _ in range(operators.FAILED_LOGINS_ALLOWED):
        sign_in(hub, "kargaly", "guessing 123456")
    assert sign_in(hub, "kargaly").answer.status_code == 429  # even the right password, for a while
    assert AuditEntry.select().where((AuditEntry.operator == "kargaly")
                                     & (AuditEntry.action == "login_refused")).exists()
    AuditEntry.delete().where(AuditEntry.operator == "kargaly").execute()  # let the other tests sign in


def test_every_request_is_in_the_audit_log_and_scoped(hub, world):
    session = sign_in(hub, "atyrau")
    session.get(hub.url + "/ops/schools.csv", timeout=30)
    session.get(f"{hub.url}/ops/schools/{world['ids']['kar1']}", timeout=30)  # outside: 404, logged
    actions = [(e.action, e.detail.get("status")) for e in
               AuditEntry.select().where(AuditEntry.operator == "atyrau").order_by(AuditEntry.id)]
    assert ("login", None) in actions and ("export", 200) in actions and ("ops.school_page", 404) in actions
    seen = {row for row in re.findall(r"<tr><td>[^<]+</td><td>([^<]*)</td>",
                                      session.get(hub.url + "/ops/audit", timeout=30).text)}
    assert seen and seen <= {"atyrau"}  # a region sees its own and its districts' entries only
    everyone = {row for row in re.findall(r"<tr><td>[^<]+</td><td>([^<]*)</td>",
                                          sign_in(hub, "minister").get(hub.url + "/ops/audit", timeout=30).text)}
    assert {"atyrau", "minister"} <= everyone


@pytest.mark.parametrize("lang, word", [("kk", "Мектептер"), ("ru", "Школы"), ("en", "Schools")])
def test_pages_speak_the_chosen_language(hub, world, lang, word):
    session = sign_in(hub, "kargaly")
    page = session.get(f"{hub.url}/ops/language/{lang}?next=/ops/", timeout=30)
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text and f"<h1>{word}</h1>" in page.text
    assert "http://" not in page.text.replace(hub.url, "") and "<script" not in page.text
    operators.Operator.update(language=None).where(Operator.username == "kargaly").execute()


def test_register_problems_are_named_by_line():
    bad = ("school_id,name,region,district,rural_urban,students\n"
           "A1,One,R,D,rural,12\nA1,Two,R,D,town,lots\n,Three,R,,urban,3\n").encode()
    with pytest.raises(operators.RegisterError) as caught:
        operators.parse_register(bad)
    assert caught.value.problems == [
        "line 3: rural_urban 'town' is neither rural nor urban",
        "line 3: students 'lots' is not a whole number of students",
        "line 3: school_id A1 is on line 2 too",
        "line 4: school_id is empty", "line 4: district is empty"]
    with pytest.raises(operators.RegisterError, match="lacks the column"):
        operators.parse_register(b"id;name\nx;y\n")


def test_the_command_line_imports_the_register_and_creates_operators(hub, world, tmp_path):
    def run(*args):
        return subprocess.run([console_script("classroom-hub"), *args], env={**base_env(), **hub.env},
                              capture_output=True, text=True, timeout=120)
    register = tmp_path / "register.csv"
    register.write_bytes(("Код;Наименование;Область;Район\r\nKZ-9;Новая школа;Костанайская;Аулиекольский\r\n")
                         .encode("cp1251"))
    done = run("register", "import", str(register))
    assert done.returncode == 0 and "1 added" in done.stdout, done.stderr
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    done = run("user", "create", "kostanay", "--level", "region", "--region", "Костанайская",
               "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    done = run("user", "create", "typo", "--level", "region", "--region", "Костанайска",
               "--password-file", str(secret))
    assert done.returncode == 2 and "the school register has no region Костанайска" in done.stderr
    short = tmp_path / "short"
    short.write_text("short\n")
    done = run("user", "create", "weak", "--level", "ministry", "--password-file", str(short))
    assert done.returncode == 2 and "at least 10 characters" in done.stderr
    assert sign_in(hub, "kostanay").answer.status_code == 303
    assert Operator.get(Operator.username == "kostanay").password_hash.startswith("scrypt:")


def test_the_hub_catalogs_are_complete_and_compiled():
    """Every string of the operator pages in kk, ru and en (docs/translating.md: update, translate, compile)."""
    from babel.messages.mofile import read_mo

    from classroom_server.i18n_tools import HUB, extract, po_path, read_catalog, untranslated
    fix = "run `python -m classroom_server.i18n_tools update`, translate, then `... compile`"
    wanted = {m.id for m in extract(HUB) if m.id}
    for language in ("kk", "ru", "en"):
        catalog = read_catalog(po_path(language, HUB), language)
        assert {m.id for m in catalog if m.id} == wanted, f"{language}: catalog out of date: {fix}"
        assert untranslated(catalog) == [], f"{language}: untranslated: {fix}"
        with po_path(language, HUB).with_suffix(".mo").open("rb") as handle:
            compiled = {m.id: m.string for m in read_mo(handle) if m.id}
        assert compiled == {m.id: m.string for m in catalog if m.id}, f"{language}: .mo is stale: {fix}"


def test_the_schools_page_comes_in_pages(hub, world, monkeypatch):
    from sync.hub import operator_views
    monkeypatch.setattr(operator_views, "PAGE_SIZE", 2)  # the ministry's 5 schools on 3 pages
    session = sign_in(hub, "minister")
    seen = set()
    for page in (1, 2, 3):
        shown = schools_seen(session, hub, f"/ops/?page={page}")
        assert len(shown) == (2 if page < 3 else 1) and not shown & seen
        seen |= shown
    assert seen == world["visible"]["minister"]
    assert session.get(hub.url + "/ops/?page=4", timeout=30).status_code == 400
    assert len(schools_seen(session, hub, "/ops/schools.json")) == 5  # the data is never paged


def test_a_formula_in_a_name_is_not_run_by_a_spreadsheet(hub, world):
    school, _ = services.enrol_school('=HYPERLINK("http://x.example","open")', "Атырауская")
    try:
        text = sign_in(hub, "atyrau").get(hub.url + "/ops/schools.csv", timeout=30).content.decode("utf-8-sig")
        row = next(r for r in csv.DictReader(io.StringIO(text)) if r["school_id"] == school.id)
        assert row["name"] == "'" + school.name
    finally:
        from sync.hub.models import School
        School.delete().where(School.id == school.id).execute()
