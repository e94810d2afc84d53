"""The admin page: people, classes and CSV import through the web forms; the teacher's class page."""
from __future__ import annotations

import io

from classroom_server.models import Classroom, Membership, User

from .helpers import post, sign_in_as


def test_admin_adds_a_teacher_and_a_class(client, school):
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/users", {"display_name": "Дина Ахметова", "role": "teacher",
                                             "username": "dina", "password": "dina-pass-1"})
    assert response.status_code == 302
    dina = User.get(User.username == "dina")
    response = post(client, "/admin/classes", {"name": "3Г", "grade": "3", "mode": "picture",
                                               "teacher": str(dina.id)})
    assert response.status_code == 302
    room = Classroom.get(Classroom.name == "3Г")
    assert room.signin_mode == "picture"
    assert Membership.get(Membership.classroom == room).user_id == dina.id
    page = client.get("/admin/").get_data(as_text=True)
    assert "Дина Ахметова" in page and "3Г" in page


def test_admin_form_errors_keep_everything(client, school):
    sign_in_as(client, school, "admin")
    before = User.select().count()
    response = post(client, "/admin/users", {"display_name": "X", "role": "teacher", "username": "teacher",
                                             "password": "long-enough-1"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "is taken" in response.get_data(as_text=True)
    response = post(client, "/admin/classes", {"name": "5А"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "exists already" in response.get_data(as_text=True)
    assert User.select().count() == before


def test_csv_upload_reports_rejected_rows(client, school):
    sign_in_as(client, school, "admin")
    data = ("role,username,display_name,password,class,pin\n"
            "student,,Дәулет Исаев,,5А,1111\n"
            "student,,Bad Pin,,5А,12ab\n").encode("utf-8")
    response = post(client, "/admin/users/import", {"file": (io.BytesIO(data), "people.csv")},
                    content_type="multipart/form-data", headers={"Accept-Language": "en"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Created: 1. Rejected: 1." in page
    assert "<td>3</td><td>a PIN is exactly 4 digits</td>" in page
    assert User.select().where(User.display_name == "Дәулет Исаев").exists()
    assert not User.select().where(User.display_name == "Bad Pin").exists()


def test_csv_dry_run_on_the_page_changes_nothing(client, school):
    sign_in_as(client, school, "admin")
    data = "role,display_name\nstudent,Новый Ученик\n".encode("utf-8")
    post(client, "/admin/users/import", {"file": (io.BytesIO(data), "p.csv"), "dry_run": "1"},
         content_type="multipart/form-data")
    assert not User.select().where(User.display_name == "Новый Ученик").exists()


def test_teacher_changes_sign_in_mode_and_sets_codes(client, school):
    sign_in_as(client, school, "teacher")
    room = school.pin_class
    response = post(client, f"/coach/class/{room.id}/signin-mode", {"mode": "picture"})
    assert response.status_code == 302
    assert Classroom.get_by_id(room.id).signin_mode == "picture"
    assert User.get_by_id(school.student.id).secret_hash is None  # old PIN no longer works
    response = post(client, f"/coach/class/{room.id}/student/{school.student.id}/secret",
                    {"picture0": "dog", "picture1": "dog", "picture2": "fish"})
    assert response.status_code == 302
    student_client = client.application.test_client()
    response = post(student_client, f"/signin/class/{room.id}/student/{school.student.id}",
                    {"picture0": "dog", "picture1": "dog", "picture2": "fish"})
    assert response.status_code == 302 and response.headers["Location"] == "/learn/"
