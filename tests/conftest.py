"""Shared fixtures: a migrated SQLite school per test, sign-in helpers, a real waitress server."""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from flask.testing import FlaskClient

from classroom_server import create_app, migrations
from classroom_server.accounts import services as accounts
from classroom_server.db import database, open_database
from classroom_server.settings import load_settings

PASSWORD = "correct-horse-42"


def _is_local(address) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pytest_configure(config):
    """Tests talk to loopback only: any other connection is a bug (offline means offline)."""
    original = socket.socket.connect

    def guarded(self, address):
        if not _is_local(address):
            raise OSError(f"tests may not connect to {address!r}: only loopback is allowed")
        return original(self, address)

    socket.socket.connect = guarded


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "data", environ={})


class EnglishClient(FlaskClient):
    """A test client whose browser asks for English, so assertions can read English text.

    Tests of language choice set their own Accept-Language header (headers win over this), or
    clear `environ_base["HTTP_ACCEPT_LANGUAGE"]`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    app.test_client_class = EnglishClient
    database.connect(reuse_if_open=True)
    migrations.migrate(database.obj)
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class School:
    admin: object
    teacher: object
    other_teacher: object
    pin_class: object
    picture_class: object
    other_class: object
    student: object        # in pin_class, PIN 4321
    picture_student: object  # in picture_class, code cat-sun-apple
    other_student: object  # in other_class, name only


@pytest.fixture
def school(app) -> School:
    with app.app_context():
        admin = accounts.create_user("boss", "Admin Person", "admin", PASSWORD)
        teacher = accounts.create_user("teacher", "Айгүл Серікқызы", "teacher", PASSWORD)
        other_teacher = accounts.create_user("other", "Ольга Петровна", "teacher", PASSWORD)
        pin_class = accounts.create_classroom("5А", 5, "pin")
        picture_class = accounts.create_classroom("1Б", 1, "picture")
        other_class = accounts.create_classroom("9В", 9, "name")
        accounts.enrol(teacher, pin_class)
        accounts.enrol(teacher, picture_class)
        accounts.enrol(other_teacher, other_class)
        student = accounts.create_user(None, "Әлия Нұрланқызы", "student")
        accounts.enrol(student, pin_class)
        accounts.set_student_secret(student, pin_class, "4321")
        picture_student = accounts.create_user(None, "Тимур Ахметов", "student")
        accounts.enrol(picture_student, picture_class)
        accounts.set_student_secret(picture_student, picture_class, "cat sun apple")
        other_student = accounts.create_user(None, "Иван Петров", "student")
        accounts.enrol(other_student, other_class)
    return School(admin, teacher, other_teacher, pin_class, picture_class, other_class, student,
                  picture_student, other_student)


def csrf_of(client) -> str:
    """This client's CSRF token (made on first use, like a page render would)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
        if not token:
            token = session["csrf"] = "test-csrf-token"
    return token


def sign_in_staff(client, username: str, password: str = PASSWORD):
    return client.post("/signin/staff", data={"username": username, "password": password,
                                              "csrf_token": csrf_of(client)})


def sign_in_as(client, school: School, role: str | None):
    """Sign `client` in as a school member with this role (None: stay signed out)."""
    if role == "admin":
        response = sign_in_staff(client, "boss")
    elif role == "teacher":
        response = sign_in_staff(client, "teacher")
    elif role == "student":
        response = client.post(f"/signin/class/{school.pin_class.id}/student/{school.student.id}",
                               data={"pin": "4321", "csrf_token": csrf_of(client)})
    else:
        return
    assert response.status_code == 302, response.get_data(as_text=True)


def post(client, url: str, data: dict | None = None, **kwargs):
    """POST with this client's CSRF token, as a form in a page would."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)}, **kwargs)


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def live_server(app):
    """The app on a real waitress server on a free loopback port; yields its base URL."""
    from waitress import create_server
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def loop():
        # waitress has no stop(): poll in short rounds so the fixture can end the loop, then close.
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop.set()
    thread.join(timeout=5)
    server.task_dispatcher.shutdown()
    server.close()


def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount` for a fixture to yield from (needs root; the test is
    skipped where it cannot be mounted); closed database and unmounted afterwards."""
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    if database.obj is not None and not database.is_closed():
        database.close()
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(filler: Path) -> Path:
    """Write zeros to `filler` until its disk is full. Writes racing it may fill the disk first: then
    even creating the file fails, and the disk is just as full."""
    try:
        with open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
    except OSError:
        pass
    return filler


def reopen_database(url: str) -> None:
    """Bind this process's database proxy to `url` again (after a helper process or a test's own
    `open_database` pointed it elsewhere), connected."""
    if database.obj is not None and not database.is_closed():
        database.close()
    open_database(url)
    database.connect(reuse_if_open=True)
