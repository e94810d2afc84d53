"""The audit log: every admin action writes one row (who, what, to what, from where) in the same
transaction as the action, a refused action writes none, and the log reads back page by page."""
from __future__ import annotations

import datetime
import io
import json

import pytest

from classroom_server.admin import audit
from classroom_server.models import AuditLog, Classroom, SyncRequest, User

from .helpers import post, sign_in_as, sign_in_staff
from .packs import build, make_key, pack_source


def rows() -> list[AuditLog]:
    return list(AuditLog.select().order_by(AuditLog.id))


def only_row(action: str) -> tuple[AuditLog, dict]:
    found = [row for row in rows() if row.action == action]
    assert len(found) == 1, [r.action for r in rows()]
    return found[0], json.loads(found[0].details)


def test_each_admin_action_writes_one_row(client, school, settings, tmp_path):
    sign_in_as(client, school, "admin")
    assert post(client, "/admin/users", {"display_name": "Дина Ахметова", "role": "teacher", "username": "dina",
                                         "password": "dina-pass-1", "classroom": str(school.pin_class.id)}
                ).status_code == 302
    row, details = only_row("user.create")
    assert row.actor_id == school.admin.id and row.actor_name == "boss" and row.ip == "127.0.0.1"
    assert row.target == "Дина Ахметова" and details["role"] == "teacher" and details["classroom"] == "5А"
    assert "dina-pass-1" not in row.details

    assert post(client, "/admin/classes", {"name": "3Г", "grade": "3", "mode": "pin"}).status_code == 302
    row, details = only_row("class.create")
    assert row.target == "3Г" and details["signin_mode"] == "pin"

    data = "role,display_name,class\nstudent,Новый Ученик,3Г\n".encode("utf-8")
    post(client, "/admin/users/import", {"file": (io.BytesIO(data), "people.csv")}, content_type="multipart/form-data")
    row, details = only_row("user.import")
    assert row.target == "people.csv" and details["created"] == 1 and details["rejected"] == 0

    dina = User.get(User.username == "dina")
    post(client, f"/admin/users/{dina.id}/password")
    post(client, f"/admin/users/{dina.id}/active", {"active": "0"})
    post(client, f"/admin/users/{dina.id}/active", {"active": "1"})
    post(client, "/admin/sync")
    for action in ("user.password_reset", "user.deactivate", "user.reactivate", "sync.now"):
        only_row(action)
    assert only_row("user.deactivate")[0].target == "Дина Ахметова"

    assert [r.action for r in rows()] == ["user.create", "class.create", "user.import", "user.password_reset",
                                          "user.deactivate", "user.reactivate", "sync.now"]


def test_content_import_and_removal_are_logged(client, school, tmp_path):
    key_path, _public = make_key(tmp_path)
    path = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path)
    sign_in_as(client, school, "admin")
    with open(path, "rb") as handle:
        post(client, "/admin/content/upload", {"file": (handle, "algebra.ckpack"), "unreviewed": "1"},
             content_type="multipart/form-data")
    row, details = only_row("content.import")
    assert row.target == "algebra.ckpack" and details["source"] == "upload"
    assert details["results"][0]["ok"] is True
    pack_id = "test.algebra"
    assert post(client, f"/admin/content/{pack_id}/remove").status_code == 302
    row, details = only_row("content.remove")
    assert row.target == pack_id and details["version"] == "1.0.0"


def test_a_refused_action_writes_no_row(client, school):
    sign_in_as(client, school, "admin")
    # The username is taken: no account, no row.
    post(client, "/admin/users", {"display_name": "X", "role": "teacher", "username": "teacher",
                                  "password": "long-enough-1"})
    # The class would be made, but its teacher does not exist: the whole action is undone.
    response = post(client, "/admin/classes", {"name": "7Д", "teacher": "9999"})
    assert response.status_code == 400
    assert not Classroom.select().where(Classroom.name == "7Д").exists()
    # A CSV file that cannot be read, and a dry run that changes nothing.
    post(client, "/admin/users/import", {"file": (io.BytesIO(b"nonsense\n1\n"), "bad.csv")},
         content_type="multipart/form-data")
    post(client, "/admin/users/import", {"file": (io.BytesIO("role,display_name\nstudent,A\n".encode()), "p.csv"),
                                         "dry_run": "1"}, content_type="multipart/form-data")
    post(client, f"/admin/users/{school.admin.id}/active", {"active": "0"})
    post(client, f"/admin/users/{school.student.id}/password")
    assert rows() == []


def test_the_audit_row_and_the_action_commit_together(client, school, app):
    """An action whose audit row cannot be written is not done either (one transaction)."""
    sign_in_as(client, school, "admin")
    with app.app_context():
        from classroom_server.db import database
        database.execute_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit_log "
                             "BEGIN SELECT RAISE(ABORT, 'audit log refused'); END")
    with pytest.raises(Exception, match="audit log refused"):
        post(client, "/admin/sync")
    with pytest.raises(Exception, match="audit log refused"):
        post(client, f"/admin/users/{school.teacher.id}/active", {"active": "0"})
    assert SyncRequest.select().count() == 0 and User.get_by_id(school.teacher.id).is_active


def test_the_audit_page_pages_newest_first_and_keeps_names_as_they_were(client, school, app):
    with app.app_context():
        for n in range(120):
            audit.write("sync.now", f"target {n}", {"n": n}, actor=school.admin, ip="10.0.0.5")
    User.update(username="renamed").where(User.id == school.admin.id).execute()
    assert sign_in_staff(client, "renamed").status_code == 302
    first = client.get("/admin/audit").get_data(as_text=True)
    assert "target 119" in first and "target 70" in first and "target 69" not in first
    assert "Page 1 of 3" in first and "Older" in first and "Newer" not in first
    assert ">boss</a>" in first and "10.0.0.5" in first  # the name when it happened
    last = client.get("/admin/audit?page=3").get_data(as_text=True)
    assert "target 19" in last and "target 0" in last and "target 20" not in last and "Newer" in last
    assert "Page 3 of 3" in client.get("/admin/audit?page=99").get_data(as_text=True)


def test_unknown_actions_are_refused(app, school):
    with app.app_context(), pytest.raises(ValueError):
        audit.write("user.delete", "x")


def test_teachers_cannot_read_the_audit_log(client, school):
    sign_in_as(client, school, "teacher")
    assert client.get("/admin/audit").status_code == 403


def test_every_action_has_a_name_on_the_page():
    from classroom_server.admin.views import ACTION_LABELS
    assert set(ACTION_LABELS) == set(audit.ACTIONS)


def test_recent_events_are_newest_first(app, school):
    from classroom_server.models import SyncLog
    with app.app_context():
        audit.write("sync.now", actor=school.admin)
        SyncLog.create(started_at=datetime.datetime(2000, 1, 1), ok=True)
        events = audit.recent_events()
    assert [e.kind for e in events] == ["audit", "sync"]
