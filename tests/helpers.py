"""What tests share besides fixtures: the test school's password and shape, sign-in and form
helpers, an app on a real server in a thread, small disks. Tests import these from here
(`from .helpers import post, sign_in_as`); the fixtures that use them are in conftest.py, the hub's
in hubtesting.py."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from classroom_server.db import database, open_database

PASSWORD = "correct-horse-42"

# Fixture accounts' stored hashes are remade with this light scrypt (the school template in
# conftest.py, the hub operators of tests/test_hub_operators.py). werkzeug reads the parameters back
# from each stored hash, so signing in checks them as it checks any other (a wrong password or PIN
# still fails), in about 1 ms instead of 25-70 ms: most tests sign someone in. Only those fixture
# rows: every hash the code under test makes keeps the production parameters, and nothing outside
# tests/ names this one.
TEST_HASH_METHOD = "scrypt:1024:8:1"


class EnglishClient(FlaskClient):
    """A test client whose browser asks for English, so assertions can read English text.

    Tests of language choice set their own Accept-Language header (headers win over this), or
    clear `environ_base["HTTP_ACCEPT_LANGUAGE"]`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


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


def serve_in_thread(app, *, max_request_body_size: int | None = None) -> tuple[str, Callable[[], None]]:
    """`app` on a real waitress server on a free loopback port, served by a thread of this process;
    returns (its base URL, a function that stops it). `max_request_body_size`: waitress's own limit,
    where the caller needs one other than waitress's default."""
    from waitress import create_server
    limit = {} if max_request_body_size is None else {"max_request_body_size": max_request_body_size}
    server = create_server(app, host="127.0.0.1", port=0, threads=4, **limit)
    stopping = threading.Event()

    def loop():
        # waitress has no stop(): poll in short rounds so stop() can end the loop, then close.
        while not stopping.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
        server.close()
    return f"http://127.0.0.1:{server.effective_port}", stop


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
