"""The school's own files (issue 18): a teacher's picture for an assignment's instructions lives in the
blob store, survives its clean-up and backups, counts against the teacher's and the school's quota, is
checked by its bytes, and only the students the assignment is for can fetch it."""
from __future__ import annotations

import html
import io
import json
import re
import struct
import tarfile
import zlib

import pytest
from click.testing import CliRunner
from PIL import Image

from classroom_server.admin.backup import make_backup
from classroom_server.cli import main
from classroom_server.coach import services as coach
from classroom_server.content import school_files
from classroom_server.content.services import BlobStore, collect_garbage
from classroom_server.models import SchoolFile

from .helpers import csrf_of, post, sign_in_as, sign_in_staff
from .pictures import picture
from .practicepack import SINGLE


@pytest.fixture
def quiz(app, school):
    """A quiz for the PIN class (a teacher's own question: no pack needed)."""
    with app.app_context():
        return coach.create_assignment(school.pin_class, school.teacher, "Sky colours", [dict(SINGLE)], kind="quiz")


@pytest.fixture
def teacher(app, school):
    client = app.test_client()
    sign_in_as(client, school, "teacher")
    return client


def attach(client, assignment_id: str, data: bytes, alt: str = "A blue sky over the steppe", name: str = "sky.png"):
    return client.post(f"/coach/assignment/{assignment_id}/pictures",
                       data={"picture": (io.BytesIO(data), name), "alt": alt, "csrf_token": csrf_of(client)},
                       content_type="multipart/form-data")


def stored(app) -> list[SchoolFile]:
    with app.app_context():
        return list(SchoolFile.select().order_by(SchoolFile.id))


def test_a_teachers_picture_reaches_the_students_of_that_class_only(app, school, quiz, teacher):
    response = attach(teacher, quiz.id, picture("JPEG"), name="sky.jpg")
    assert response.status_code == 303, response.get_data(as_text=True)
    [row] = stored(app)
    assert (row.content_type, row.width, row.height, row.owner_id) == ("image/jpeg", 64, 48, school.teacher.id)
    assert 'alt="A blue sky over the steppe"' in teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)

    student = app.test_client()
    sign_in_as(student, school, "student")
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    url = f"/learn/assignment/{quiz.id}/picture/{row.id}"
    assert f'src="{url}"' in page and 'alt="A blue sky over the steppe"' in page
    got = student.get(url)
    assert got.status_code == 200 and got.mimetype == "image/jpeg"
    assert got.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in got.headers["Content-Security-Policy"]
    assert Image.open(io.BytesIO(got.data)).format == "JPEG"
    assert student.get(url, headers={"If-None-Match": got.headers["ETag"]}).status_code == 304

    # A student of another class: the assignment and its picture are not there for them.
    other = app.test_client()
    post(other, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    assert other.get(url).status_code == 404
    assert other.get(f"/learn/assignment/{quiz.id}").status_code == 404
    # Nor for a teacher of another class, nor signed out.
    other_teacher = app.test_client()
    sign_in_staff(other_teacher, "other")
    assert other_teacher.get(f"/coach/assignment/{quiz.id}/picture/{row.id}").status_code in (403, 404)
    assert app.test_client().get(url).status_code in (302, 401, 403)


@pytest.mark.parametrize("data,name", [
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "cat.png"),
    (b"<html><script>alert(1)</script></html>", "cat.jpg"),
    (b"GIF89a" + bytes(40), "cat.webp"),
    (b"\x89PNG\r\n\x1a\n" + bytes(60), "cat.png"),  # a PNG's first bytes and nothing of a picture after
])
def test_a_file_that_is_not_a_picture_is_refused_whatever_its_name(app, school, quiz, teacher, data, name):
    response = attach(teacher, quiz.id, data, name=name)
    assert response.status_code == 400
    assert "is not a PNG, JPEG or WebP picture (whatever its name says)" in response.get_data(as_text=True)
    assert stored(app) == []


def test_a_picture_is_re_encoded_without_what_else_it_carried(app, school, quiz, teacher, settings):
    exif = Image.Exif()
    exif[0x010F] = "SECRET-CAMERA"  # Make; a phone also writes where it was
    data = picture("JPEG", exif=exif.tobytes()) + b"<script>alert(1)</script>"
    assert attach(teacher, quiz.id, data, name="photo.jpg").status_code == 303
    [row] = stored(app)
    kept = BlobStore(settings.data_dir).path(row.sha256).read_bytes()
    assert b"SECRET-CAMERA" not in kept and b"<script>" not in kept
    assert attach(teacher, quiz.id, picture("WEBP", (3000, 1000))).status_code == 303
    assert (stored(app)[1].content_type, stored(app)[1].width) == ("image/webp", school_files.MAX_SIDE)


def test_a_picture_too_big_to_decode_is_refused_before_it_is_decoded(app, school, quiz, teacher):
    small = picture("PNG", (8, 8))
    header = b"IHDR" + struct.pack(">II", 9000, 9000) + small[24:29]  # claims 81 million pixels
    bomb = small[:12] + header + struct.pack(">I", zlib.crc32(header)) + small[33:]
    response = attach(teacher, quiz.id, bomb)
    assert response.status_code == 400
    assert "9000 × 9000 pixels, too big to show" in response.get_data(as_text=True)
    assert stored(app) == []


def test_no_description_no_picture(app, school, quiz, teacher):
    response = attach(teacher, quiz.id, picture(), alt="   ")
    assert response.status_code == 400 and "students who cannot see it hear this" in response.get_data(as_text=True)
    assert stored(app) == []


def test_the_clean_up_keeps_school_files_and_a_removed_picture_goes(app, school, quiz, teacher, settings):
    assert attach(teacher, quiz.id, picture()).status_code == 303
    [row] = stored(app)
    store = BlobStore(settings.data_dir)
    with app.app_context():
        assert collect_garbage(settings.data_dir) == 0
    assert store.path(row.sha256).is_file()
    checked = CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "doctor"])
    assert re.search(r"^OK\s+unused content: none$", checked.output, re.M), checked.output

    response = post(teacher, f"/coach/assignment/{quiz.id}/picture/{row.id}/remove")
    assert response.status_code == 303
    assert stored(app) == [] and not store.path(row.sha256).exists()


def test_a_backup_without_content_still_holds_the_school_files(app, school, quiz, teacher, settings, tmp_path):
    assert attach(teacher, quiz.id, picture()).status_code == 303
    [row] = stored(app)
    with app.app_context():
        make_backup(settings, tmp_path / "school.tar.gz", with_content=False)
    with tarfile.open(tmp_path / "school.tar.gz") as archive:
        assert f"content/blobs/{row.sha256[:2]}/{row.sha256}" in archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))
    assert manifest["with_content"] is False


def test_quotas_refuse_with_what_to_do_and_the_admin_sets_them(app, school, quiz, teacher):
    admin = app.test_client()
    sign_in_as(admin, school, "admin")
    response = post(admin, "/admin/settings/files", {"teacher_quota": "1", "school_quota": "2"})
    assert response.status_code == 303
    big = picture("PNG", (1200, 700), noise=True)  # noise does not compress: about 2.4 MB
    response = attach(teacher, quiz.id, big)
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and "would pass your quota: you use 0.0 MB of 1 MB" in text
    assert "Remove a picture you no longer need" in text and "raise the teachers' quota" in text
    assert stored(app) == []

    response = post(admin, "/admin/settings/files", {"teacher_quota": "5", "school_quota": "1"})
    assert response.status_code == 400 and "cannot be more than the whole school" in response.get_data(as_text=True)
    response = post(admin, "/admin/settings/files", {"teacher_quota": "abc", "school_quota": "2"})
    assert response.status_code == 400 and "a whole number of megabytes" in response.get_data(as_text=True)
    assert post(admin, "/admin/settings/files", {"teacher_quota": "2", "school_quota": "2"}).status_code == 303
    small = picture("PNG", (700, 700), noise=True)  # about 1.4 MB
    assert attach(teacher, quiz.id, small).status_code == 303
    response = attach(teacher, quiz.id, picture("PNG", (700, 700), noise=True, seed=6))
    assert response.status_code == 400 and "you use 1.4 MB of 2 MB" in response.get_data(as_text=True)
    assert attach(teacher, quiz.id, small).status_code == 303  # the same picture again: stored once, counted once

    # The whole school's quota counts every teacher's pictures.
    with app.app_context():
        theirs = coach.create_assignment(school.other_class, school.other_teacher, "Rivers", [dict(SINGLE)],
                                         kind="quiz")
    other_teacher = app.test_client()
    sign_in_staff(other_teacher, "other")
    response = attach(other_teacher, theirs.id, picture("PNG", (500, 500), noise=True))  # about 0.7 MB
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400 and "The school's files would pass the school's quota (1.4 MB of 2 MB" in text
    assert "Ask the school's IT person to raise it (admin page, Settings, School files)" in text

    page = teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    assert "Your school files: 1.4 MB used of 2 MB, 0.6 MB free." in page
    home = admin.get("/admin/").get_data(as_text=True)
    assert "School files" in home and "1.4 MB used of 2 MB" in home
    settings_page = admin.get("/admin/settings").get_data(as_text=True)
    assert "attached to assignments: 2. Space: 1.4 MB used of 2 MB, 0.6 MB free." in settings_page


def test_a_national_assignment_takes_no_pictures(app, school, quiz, teacher):
    with app.app_context():
        quiz.national_id = "nat-1"
        quiz.save()
    assert attach(teacher, quiz.id, picture()).status_code == 403
    assert stored(app) == []


def test_a_copy_shows_the_same_pictures_which_count_once_and_outlive_the_original(app, school, quiz, teacher,
                                                                                  settings):
    assert attach(teacher, quiz.id, picture("PNG", (300, 300), noise=True)).status_code == 303
    [first] = stored(app)
    with app.app_context():
        used = school_files.teacher_usage(school.teacher).used
    response = post(teacher, f"/coach/assignment/{quiz.id}/copy", {"class_id": str(school.picture_class.id)})
    assert response.status_code == 303
    original, copied = stored(app)
    assert copied.sha256 == original.sha256 and copied.assignment_id != quiz.id and copied.alt == original.alt
    with app.app_context():
        assert school_files.teacher_usage(school.teacher).used == used == school_files.school_usage().used

    # The copy's class sees it; taking it off the original leaves the copy's file in place.
    assert post(teacher, f"/coach/assignment/{quiz.id}/picture/{first.id}/remove").status_code == 303
    assert BlobStore(settings.data_dir).path(first.sha256).is_file()
    student = app.test_client()
    post(student, f"/signin/class/{school.picture_class.id}/student/{school.picture_student.id}",
         {"picture0": "cat", "picture1": "sun", "picture2": "apple"})
    got = student.get(f"/learn/assignment/{copied.assignment_id}/picture/{copied.id}")
    assert got.status_code == 200 and got.mimetype == "image/png"
