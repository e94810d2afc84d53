"""Three `classroom-hub serve` processes behind nginx (deploy/hub/classroom-hub-nginx.conf), sharing one
PostgreSQL database through pgbouncer in transaction mode (deploy/hub/pgbouncer.ini): one process is
SIGKILLed while schools send batches, the schools retry as their agents do, and every record ends up
stored exactly once.

Real parts only: nginx and pgbouncer from Debian (`.ci/run` installs them), the hub's own CLI, the
machine's PostgreSQL (CLASSROOM_TEST_POSTGRES_URL, a database of its own for this test).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from sync import protocol
from tests import pgcluster
from tests.hubprocess import console_script
from tests.hubtesting import PG_URL, make_records

REPO = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CLASSROOM_TEST_POSTGRES_URL (CI does)"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed: apt-get install nginx-light"),
    pytest.mark.skipif(not Path(PGBOUNCER).exists(), reason="pgbouncer is not installed: apt-get install pgbouncer"),
]

SCHOOLS = 6
BATCHES = 25
PER_BATCH = 100


def render(template: Path, **values: str) -> str:
    text = template.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    assert "@" not in "".join(line.split(";")[0].split("#")[0] for line in text.splitlines()), text
    return text


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def database_url():
    """A database of its own (pgbouncer names databases, and cannot pass a search_path per client)."""
    import psycopg2
    name = "hubproc_" + uuid.uuid4().hex[:10]
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    parsed = urlparse(PG_URL)
    yield parsed._replace(path=f"/{name}").geturl()
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def folder():
    made = Path(__import__("tempfile").mkdtemp(prefix="classroom-hubs-"))
    if os.geteuid() == 0:  # pgbouncer will not run as root
        import pwd
        user = pwd.getpwnam("postgres")
        os.chown(made, user.pw_uid, user.pw_gid)
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def pgbouncer(folder, database_url):
    parsed = urlparse(database_url)
    port = pgcluster.free_port()
    (folder / "users.txt").write_text(f'"{parsed.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(render(
        REPO / "deploy" / "hub" / "pgbouncer.ini", PGHOST=parsed.hostname, PGPORT=str(parsed.port or 5432),
        PGDATABASE=parsed.path.lstrip("/"), PORT=str(port), AUTH_TYPE="trust", AUTH_FILE=str(folder / "users.txt"),
        LOGFILE=str(folder / "pgbouncer.log"), PIDFILE=str(folder / "pgbouncer.pid")))
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: _connects(port) or proc.poll() is not None, "pgbouncer to listen")
    assert proc.poll() is None, proc.stderr.read()
    yield f"postgresql://{parsed.username}@127.0.0.1:{port}/classroom_hub"
    # runuser does not pass signals on: stop pgbouncer itself (SIGTERM: at once) by its pid file.
    os.kill(int((folder / "pgbouncer.pid").read_text()), signal.SIGTERM)
    proc.wait(30)


def _connects(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Hubs:
    """`classroom-hub init`, then three `serve` processes on free ports, then nginx over them."""

    def __init__(self, folder: Path, direct_url: str, pooled_url: str):
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
        self.env.update(CLASSROOM_HUB_DATA_DIR=str(folder / "hub"), CLASSROOM_HUB_DATABASE_URL=direct_url,
                        CLASSROOM_HUB_SERVER_THREADS="4")
        subprocess.run([console_script("classroom-hub"), "init"], env=self.env, check=True, capture_output=True,
                       timeout=120)
        self.env["CLASSROOM_HUB_DATABASE_URL"] = pooled_url  # the serving processes go through pgbouncer
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.nginx: subprocess.Popen | None = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        folder = self.folder
        for _ in range(3):
            proc = subprocess.Popen([console_script("classroom-hub"), "serve", "--port", "0"], env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True)
            line = proc.stdout.readline()
            assert line.startswith("Serving on "), line
            self.procs.append(proc)
            self.ports.append(int(line.split()[2].rstrip("/").rsplit(":", 1)[1]))
        self.port = pgcluster.free_port()
        servers = "\n    ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in self.ports)
        site = render(REPO / "deploy" / "hub" / "classroom-hub-nginx.conf", SERVERS=servers,
                      LISTEN=f"127.0.0.1:{self.port}")
        (folder / "nginx").mkdir()
        (folder / "nginx" / "site.conf").write_text(site)
        (folder / "nginx" / "nginx.conf").write_text(
            f"pid {folder}/nginx/nginx.pid;\nerror_log {folder}/nginx/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {folder}/nginx/body;\n"
            f"  proxy_temp_path {folder}/nginx/proxy;\n  include {folder}/nginx/site.conf;\n}}\n")
        self.nginx = subprocess.Popen([NGINX, "-c", str(folder / "nginx" / "nginx.conf"), "-p", str(folder / "nginx"),
                                       "-g", "daemon off; user root;" if os.geteuid() == 0 else "daemon off;"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: answers(self.url + "/healthz") or self.nginx.poll() is not None, "nginx")
        assert self.nginx.poll() is None, self.nginx.stderr.read()

    def cli(self, *args: str) -> str:
        return subprocess.run([console_script("classroom-hub"), *args], env=self.env, check=True, capture_output=True,
                              text=True, timeout=120).stdout

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            self.nginx.wait(10)
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


class RetryingSchool(threading.Thread):
    """Sends its batches in order as the agent does: a batch that fails in any way (connection cut,
    502, 503) is signed afresh and sent again until the hub acknowledges it."""

    def __init__(self, url: str, school_id: str, secret: str):
        super().__init__(daemon=True)
        self.url, self.school_id, self.secret = url, school_id, secret
        self.records = make_records(school_id, range(1, BATCHES * PER_BATCH + 1))
        self.sent = 0
        self.retries = 0
        self.failure: str | None = None

    def run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        try:
            for first in range(0, len(self.records), PER_BATCH):
                body = protocol.encode_batch(self.school_id, "9.9.9-test", self.records[first:first + PER_BATCH])
                for _ in range(50):
                    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                               **protocol.sign_request(self.school_id, self.secret, "POST", "/api/v1/records", body)}
                    try:
                        response = session.post(self.url + "/api/v1/records", data=body, headers=headers, timeout=60)
                    except requests.RequestException:
                        response = None
                    if response is not None and response.status_code == 200:
                        assert response.json()["acked"] == first + PER_BATCH, response.text
                        self.sent += 1
                        break
                    if response is not None and response.status_code not in (502, 503, 504):
                        raise AssertionError(f"{response.status_code}: {response.text}")
                    self.retries += 1
                    time.sleep(0.1)
                else:
                    raise AssertionError("a batch was never acknowledged")
        except AssertionError as exc:
            self.failure = str(exc)


def test_a_hub_process_killed_during_ingest_loses_and_doubles_nothing(folder, database_url, pgbouncer):
    import json

    import psycopg2
    hubs = Hubs(folder, database_url, pgbouncer)
    try:
        schools = [json.loads(hubs.cli("school", "add", f"School {n}", "--json")) for n in range(SCHOOLS)]
        senders = [RetryingSchool(hubs.url, s["school_id"], s["secret"]) for s in schools]
        for sender in senders:
            sender.start()
        total = SCHOOLS * BATCHES
        wait_for(lambda: sum(s.sent for s in senders) >= total // 3, "a third of the batches")
        hubs.procs[1].send_signal(signal.SIGKILL)  # mid-ingest: its open transactions roll back
        hubs.procs[1].wait(10)
        for sender in senders:
            sender.join(300)
        assert [s.failure for s in senders] == [None] * SCHOOLS
        assert sum(s.sent for s in senders) == total
        assert answers(hubs.url + "/healthz")  # the two left answer; nginx skips the dead one

        conn = psycopg2.connect(database_url)
        try:
            with conn.cursor() as cursor:
                for sender in senders:
                    cursor.execute("SELECT seq, uuid::text FROM record WHERE school_id = %s ORDER BY seq",
                                   (sender.school_id,))
                    assert cursor.fetchall() == [(r["seq"], r["uuid"]) for r in sender.records]
                    cursor.execute("SELECT acked, records_received, seq_high FROM school WHERE id = %s",
                                   (sender.school_id,))
                    assert cursor.fetchone() == (BATCHES * PER_BATCH,) * 3
                cursor.execute("SELECT sum(records) FROM school_day")
                assert cursor.fetchone()[0] == SCHOOLS * BATCHES * PER_BATCH
        finally:
            conn.close()
    finally:
        hubs.stop()
