"""A full disk at the school, for real: the data folder on a small tmpfs, filled up while students
post answers to the real server (waitress). Refused answers get 507 and a clear message, pages and
content keep being served, no acknowledged record is lost, the database passes its integrity check,
and answers are stored again once there is room."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from classroom_server.accounts import services as accounts
from classroom_server.models import ContentFile, LoginFailure
from classroom_server.settings import load_settings

from . import practicepack
from .helpers import PASSWORD, checkpoint, fill_disk, form_token, shrink, tmpfs
from .practicepack import MIX, PACK

pytestmark = pytest.mark.slow  # full disks made of small tmpfs mounts

pack = practicepack.pack  # the practice pack, installed in the school (a fixture)

STUDENTS = 6


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs, big enough at first for a pack import (which keeps 256 MiB in reserve); `shrink`
    makes it small."""
    yield from tmpfs(tmp_path / "small-disk", "300m")


@pytest.fixture
def settings(small_disk):
    """The school's data folder on the small disk (overrides conftest.py's fixture)."""
    return load_settings(small_disk / "data", environ={})


def fill(folder: Path) -> Path:
    return fill_disk(folder / "filler")


class Student:
    """One student's browser, as requests sees it: signed in, answering through the JSON API."""

    def __init__(self, base: str, class_id: int, student_id: int, pin: str):
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Accept-Language"] = "en"
        page = self.session.get(f"{base}/signin/class/{class_id}/student/{student_id}")
        response = self.session.post(f"{base}/signin/class/{class_id}/student/{student_id}",
                                     data={"pin": pin, "csrf_token": form_token(page.text)}, allow_redirects=False)
        assert response.status_code == 302, response.text
        self.csrf = self.session.get(f"{base}/api/v1/me").json()["csrf_token"]

    def answer(self, record_id: str) -> requests.Response:
        return self.session.post(f"{self.base}/api/v1/answers", headers={"X-CSRF-Token": self.csrf}, timeout=30,
                                 json={"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "b",
                                       "record_id": record_id})


def test_a_full_disk_refuses_answers_clearly_loses_nothing_and_recovers(app, school, pack, live_server,
                                                                        settings, small_disk):
    pins = {}
    with app.app_context():
        for n in range(STUDENTS):
            student = accounts.create_user(None, f"Оқушы {n}", "student")
            accounts.enrol(student, school.pin_class)
            accounts.set_student_secret(student, school.pin_class, f"{1000 + n}")
            pins[student.id] = f"{1000 + n}"
        lesson = ContentFile.select().where(ContentFile.path == "intro.html").get()
    shrink(small_disk)
    # Space to give back later whatever filled the disk (the filler, or answers racing it).
    reserve = small_disk / "reserve"
    reserve.write_bytes(b"\0" * 2 * 1024 * 1024)
    students = [Student(live_server, school.pin_class.id, sid, pin) for sid, pin in pins.items()]
    admin = requests.Session()
    admin.trust_env = False
    admin.headers["Accept-Language"] = "en"
    page = admin.get(f"{live_server}/signin")
    assert admin.post(f"{live_server}/signin/staff", data={"username": "boss", "password": PASSWORD,
                                                           "csrf_token": form_token(page.text)},
                      allow_redirects=False).status_code == 302

    acked: set[str] = set()
    refused: list[str] = []
    problems: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def answer_until_stopped(student: Student) -> None:
        while not stop.is_set():
            record_id = str(uuid.uuid4())
            response = student.answer(record_id)
            with lock:
                if response.status_code == 201:
                    acked.add(record_id)
                elif response.status_code == 507 and response.json().get("error") == "disk_full":
                    refused.append(record_id)
                else:
                    problems.append(f"{response.status_code} {response.text[:300]}")

    def wait_for(condition, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert not problems, problems[:3]
            assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
            time.sleep(0.02)

    threads = [threading.Thread(target=answer_until_stopped, args=(s,), daemon=True) for s in students]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(acked) >= 40, "the first answers")
        checkpoint(settings.data_dir / "classroom.sqlite3")
        filler = fill(small_disk)
        with lock:
            refused_before = len(refused)
        wait_for(lambda: len(refused) >= refused_before + 20, "answers refused on the full disk")

        # Full: answers are refused with a message people can act on; reading goes on.
        response = students[0].answer(str(uuid.uuid4()))
        assert response.status_code == 507
        assert "disk is full" in response.json()["message"] and "IT person" in response.json()["message"]
        form = students[0].session.post(f"{live_server}/learn/practice/{PACK}/{MIX}/s1",
                                        data={"answer": "b", "csrf_token": students[0].csrf})
        assert form.status_code == 507 and "disk is full" in form.text
        assert students[0].session.get(f"{live_server}/learn/").status_code == 200
        blob = requests.get(f"{live_server}/content/{lesson.sha256}", timeout=10)
        assert blob.status_code == 200 and b"Hi" in blob.content
        assert requests.get(f"{live_server}/healthz", timeout=10).json()["status"] == "ok"
        warned = admin.get(f"{live_server}/admin/")
        assert warned.status_code == 200 and "The school server's disk is full" in warned.text
        late = Student(live_server, school.pin_class.id, next(iter(pins)), next(iter(pins.values())))  # sign-in works
        assert late.session.get(f"{live_server}/learn/").status_code == 200

        # Room again: answers are stored again, without restarting anything.
        filler.unlink(missing_ok=True)
        reserve.unlink()
        with lock:
            acked_before = len(acked)
        wait_for(lambda: len(acked) >= acked_before + 20, "answers stored after space came back")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not problems, problems[:3]

    # The refused answers, sent again by the devices that kept them, are stored once each.
    again = {record_id: students[0].answer(record_id).status_code for record_id in set(refused)}
    assert set(again.values()) <= {200, 201}, again

    conn = sqlite3.connect(f"file:{settings.data_dir / 'classroom.sqlite3'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute("SELECT uuid FROM learning_record")}
        count = conn.execute("SELECT COUNT(*) FROM learning_record").fetchone()[0]
    finally:
        conn.close()
    assert acked <= stored, f"{len(acked - stored)} acknowledged answers were lost"
    assert set(refused) <= stored and count == len(stored) == len(acked | set(refused))


def test_a_full_disk_still_limits_sign_in_guessing(app, school, small_disk):
    """Sign-in still works on a full disk, so a wrong try that cannot be stored is counted in memory
    instead: a guesser gets no more tries than with room on the disk."""
    from .helpers import post
    shrink(small_disk)
    checkpoint(Path(app.config["CLASSROOM_SETTINGS"].data_dir) / "classroom.sqlite3")
    fill(small_disk)
    guesser, other = app.test_client(), app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    try:
        for guess in ("0000", "1111", "2222", "3333", "5555"):
            assert post(guesser, url, {"pin": guess}).status_code == 401
        assert LoginFailure.select().count() == 0  # none could be stored
        assert post(guesser, url, {"pin": "4321"}).status_code == 429
        assert post(other, url, {"pin": "4321"}).status_code == 302
    finally:
        accounts._UNSTORED.clear()  # this process's memory of tries, not the next test's


def test_signing_out_and_in_again_work_on_a_full_disk(app, school, small_disk):
    from .helpers import post, sign_in_staff
    client = app.test_client()
    sign_in_staff(client, "teacher")
    shrink(small_disk)
    checkpoint(Path(app.config["CLASSROOM_SETTINGS"].data_dir) / "classroom.sqlite3")
    fill(small_disk)
    assert sign_in_staff(client, "other").status_code == 302  # ends the teacher's sign-in here: a write
    assert post(client, "/signout").status_code == 302
    assert client.get("/coach/").status_code == 302
