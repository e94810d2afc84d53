"""Every route against every role: a student reaches no teacher or admin page or API, a teacher no
admin page, and nobody anything but the sign-in pages without signing in."""
from __future__ import annotations

import pytest

from classroom_server.security import PUBLIC_ENDPOINTS

from .helpers import csrf_of, sign_in_as

# Which roles may use each blueprint (None: anyone signed in).
ALLOWED = {"learn": {"student"}, "coach": {"teacher", "admin"}, "admin": {"admin"}}
ENDPOINT_ALLOWED = {"api.classes": {"teacher", "admin"}, "accounts.change_password": {"teacher", "admin"},
                    "api.answers": {"student"}, "api.quiz_answers": {"student"},
                    # a student's own bookmarks, highlights and notes: no other role sees or writes them
                    "content.my_notes": {"student"}, "content.add_note": {"student"},
                    "content.change_note": {"student"}}


def _routes(app, school):
    ids = {"class_id": school.pin_class.id, "student_id": school.student.id}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",):
            continue
        url = rule.build({k: ids.get(k, 1) for k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _allowed(endpoint: str, role: str) -> bool:
    if endpoint in ENDPOINT_ALLOWED:
        return role in ENDPOINT_ALLOWED[endpoint]
    blueprint = endpoint.split(".")[0]
    return role in ALLOWED.get(blueprint, {role})


@pytest.mark.parametrize("role", [None, "student", "teacher", "admin"])
def test_every_route_against_every_role(app, school, role):
    client = app.test_client()
    sign_in_as(client, school, role)
    checked = 0
    for endpoint, method, url in _routes(app, school):
        if endpoint in ("accounts.signout",):
            continue  # would end this client's session mid-loop
        data = {"csrf_token": csrf_of(client)} if method == "POST" else None
        response = client.open(url, method=method, data=data)
        checked += 1
        where = f"{role} {method} {url} -> {response.status_code}"
        if endpoint in PUBLIC_ENDPOINTS or endpoint == "healthz":
            # sign-in pages answer everyone (a 401 there means "wrong password", not "no access")
            assert response.status_code != 403, where
        elif role is None:
            if url.startswith("/api/"):
                assert response.status_code == 401, where
            else:
                assert response.status_code == 302 and "/signin" in response.headers["Location"], where
        elif not _allowed(endpoint, role):
            assert response.status_code == 403, where
        else:
            assert response.status_code not in (401, 403), where
        # an earlier POST (e.g. a password change) may have signed this client out: sign in again
        if role and client.get("/api/v1/me").status_code == 401:
            sign_in_as(client, school, role)
    assert checked > 15


def test_teacher_cannot_touch_another_teachers_class(app, school):
    client = app.test_client()
    sign_in_as(client, school, "teacher")
    other = school.other_class.id
    assert client.get(f"/coach/class/{other}").status_code == 403
    response = client.post(f"/coach/class/{other}/signin-mode",
                           data={"mode": "pin", "csrf_token": csrf_of(client)})
    assert response.status_code == 403
    names = [c["name"] for c in client.get("/api/v1/classes").get_json()]
    assert names == ["1Б", "5А"]


def test_admin_sees_every_class(app, school):
    client = app.test_client()
    sign_in_as(client, school, "admin")
    names = sorted(c["name"] for c in client.get("/api/v1/classes").get_json())
    assert names == ["1Б", "5А", "9В"]
    assert client.get(f"/coach/class/{school.other_class.id}").status_code == 200


def test_api_errors_are_json(app, school):
    client = app.test_client()
    assert client.get("/api/v1/me").get_json()["error"] == "unauthenticated"
    sign_in_as(client, school, "student")
    response = client.get("/api/v1/classes")
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    me = client.get("/api/v1/me").get_json()
    assert me["role"] == "student" and me["csrf_token"]


def test_every_coach_route_refuses_another_teachers_class(app, school):
    """Each coach route, given the other class, its group, student and assignment: 403 or 404, and
    nothing in the database changes."""
    from classroom_server.coach import services as coach
    from classroom_server.models import MODELS, StudentGroup
    with app.app_context():
        group = StudentGroup.create(classroom=school.other_class.id, name="Theirs")
        theirs = coach.create_assignment(school.other_class, school.other_teacher, "Theirs",
                                         [("some.pack", "node", None)])
        part = theirs.parts.get()
        counts = {model.__name__: model.select().count() for model in MODELS}
    ids = {"class_id": school.other_class.id, "student_id": school.other_student.id, "group_id": group.id,
           "assignment_id": theirs.id, "part_id": part.id, "action": "close"}
    client = app.test_client()
    sign_in_as(client, school, "teacher")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("coach.") or not rule.arguments:
            continue
        url = rule.build({k: ids.get(k, 1) for k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": csrf_of(client), "class_id": str(school.pin_class.id), "title": "x"} \
                if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code in (403, 404), f"{method} {url} -> {response.status_code}"
            checked += 1
    with app.app_context():
        assert {model.__name__: model.select().count() for model in MODELS} == counts
    assert checked >= 15


def test_a_later_app_has_the_same_routes_each_with_its_own_converters(tmp_path, monkeypatch):
    """app._Rule parses a rule's text once per process; the apps made after the first reuse it."""
    from classroom_server import create_app
    from classroom_server.app import _Rule
    from classroom_server.settings import load_settings
    monkeypatch.setattr(_Rule, "_parsed", {})  # as in a fresh process: the first app parses its rules
    app = create_app(load_settings(tmp_path / "first", environ={}))
    later = create_app(load_settings(tmp_path / "later", environ={}))

    def rules(an_app):
        return {(rule.rule, rule.endpoint, tuple(sorted(rule.methods))): rule for rule in an_app.url_map.iter_rules()}
    first, second = rules(app), rules(later)
    assert first.keys() == second.keys() and len(first) > 100
    for key, rule in second.items():
        same = first[key]
        assert (rule._parts, rule._trace, rule.arguments) == (same._parts, same._trace, same.arguments)
        assert [type(c) for c in rule._converters.values()] == [type(c) for c in same._converters.values()]
        assert all(converter.map is later.url_map for converter in rule._converters.values())
    urls = later.url_map.bind("school.local")
    assert urls.match("/admin/users/5") == ("admin.user_page", {"user_id": 5})
    assert urls.build("admin.user_page", {"user_id": 7}) == "/admin/users/7"
