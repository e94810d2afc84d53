"""What tests share besides fixtures: the test school's password and shape, sign-in and form
helpers, an app on a real server in a thread, small disks. Tests import these from here
(`from .helpers import post, sign_in_as`); the fixtures that use them are in conftest.py, the hub's
in hubtesting.py."""
from __future__ import annotations

import datetime
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient

from classroom_server.db import database, open_database

PASSWORD = "correct-horse-42"

# Fixture accounts' stored hashes are remade with this light scrypt (the school template in
# conftest.py, the hub operators of tests/hubworld.py). werkzeug reads the parameters back
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


def schema_of(db, tables):
    result = {}
    for table in tables:
        columns = {(c.name, c.data_type.upper().split("(")[0], c.null, c.primary_key)
                   for c in db.get_columns(table)}
        indexes = {(tuple(i.columns), i.unique) for i in db.get_indexes(table)}
        foreign = {(f.column, f.dest_table, f.dest_column) for f in db.get_foreign_keys(table)}
        result[table] = (columns, indexes, foreign)
    return result


@contextmanager
def serving(data: Path, *options: str):
    """`classroom-server serve` on a free loopback port in a process of its own; yields (pid, base URL)."""
    env = {**os.environ, "CLASSROOM_DATA_DIR": str(data)}
    process = subprocess.Popen([sys.executable, "-m", "classroom_server.cli", "serve", "--host", "127.0.0.1",
                                "--port", "0", "--threads", "4", *options],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in process.stderr:
            match = re.search(r"Serving on http://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
                break
        assert port, "the server never said where it serves"
        yield process.pid, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


def serve_until_ready(data_dir: Path, *options: str) -> list[str]:
    """`classroom-server serve` (one worker unless `options` say otherwise) on a free port until it
    serves, then stopped; what it printed up to "Serving on", that line last. CLASSROOM_ settings
    of the test run are left out: the data folder's own settings file is what it reads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
    proc = subprocess.Popen([sys.executable, "-m", "classroom_server.cli", "--data-dir", str(data_dir), "serve",
                             "--host", "127.0.0.1", "--port", "0", "--workers", "1", *options], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("Serving on "):
                break
    finally:
        proc.terminate()
        proc.wait(30)
    assert lines and lines[-1].startswith("Serving on "), "".join(lines)
    return lines


def check_rfc9110_answers(url: str, etag: str, whole: bytes) -> None:
    """Conditionals and ranges as RFC 9110 has them, checked against a live server."""
    size = len(whole)
    weak = requests.get(url, headers={"If-None-Match": f"W/{etag}"})  # 13.1.2: weak comparison
    assert weak.status_code == 304 and weak.content == b""
    listed = requests.get(url, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304
    assert requests.get(url, headers={"If-Match": etag}).status_code == 200
    for wanted in ('"other"', f"W/{etag}"):  # 13.1.1: strong comparison; a weak tag never matches
        refused = requests.get(url, headers={"If-Match": wanted})
        assert refused.status_code == 412 and refused.content == b"", wanted
    assert requests.get(url, headers={"If-Match": "*"}).status_code == 200
    # 14.1.1: a suffix longer than the file is the whole file; a zero-length suffix is unsatisfiable.
    longer = requests.get(url, headers={"Range": f"bytes=-{size + 100}"})
    assert longer.status_code == 206 and longer.content == whole
    assert longer.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    for unsatisfiable in ("bytes=-0", f"bytes={size}-", f"bytes={size}-,{size + 5}-{size + 9}"):
        answer = requests.get(url, headers={"Range": unsatisfiable})
        assert answer.status_code == 416, unsatisfiable
        assert answer.headers["Content-Range"] == f"bytes */{size}"
    # Several satisfiable ranges: served (merged into one when they touch) or the whole file.
    merged = requests.get(url, headers={"Range": "bytes=0-9, 5-19"})
    assert merged.status_code == 206 and merged.content == whole[:20]
    apart = requests.get(url, headers={"Range": "bytes=0-9, 30-39"})
    assert apart.status_code == 200 and apart.content == whole
    # One satisfiable range among unsatisfiable ones is served.
    one = requests.get(url, headers={"Range": f"bytes={size + 5}-, 10-19"})
    assert one.status_code == 206 and one.content == whole[10:20]
    # An invalid header (last < first, another unit) is ignored: the whole file.
    for ignored in ("bytes=9-0", "items=0-1", "bytes=abc"):
        answer = requests.get(url, headers={"Range": ignored})
        assert answer.status_code == 200 and answer.content == whole, ignored
    # A wrong method: 405 with the methods that are allowed (15.5.6).
    refused = requests.post(url)
    assert refused.status_code == 405
    assert {m.strip() for m in refused.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def shrink(mount: Path, size: str = "24m") -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True, capture_output=True)


def checkpoint(db_path: Path) -> None:
    """Empty the write-ahead log, so the next writes need new disk space."""
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()


def issued_certificate(names, not_before, days):
    """A certificate for `names` signed by a CA of its own (not self-signed, as a CA's would be)."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_before + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256())).public_bytes(serialization.Encoding.PEM)
