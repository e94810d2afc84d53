"""The real national hub for tests and benchmarks: `classroom-hub init`, `school add`, `serve --port 0`
as subprocesses on loopback, on PostgreSQL when CLASSROOM_TEST_POSTGRES_URL names a server (a schema
of its own, dropped afterwards), else on a SQLite file.

What the hub holds is read straight from its database, so a test can compare it with the school's.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.pgtesting import URL as POSTGRES_URL
from tests.pgtesting import throwaway_schema


def console_script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def serve(command: list[str], env: dict, log: list[str]) -> tuple[subprocess.Popen, str]:
    """Start a server that prints `Serving on URL` first; (the process, its URL). Its output is read into
    `log` (the last 200 lines) from then on, or a full pipe would block it."""
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("Serving on "):
        end(proc)
        raise RuntimeError(f"{' '.join(command)} did not start: {line}{proc.stderr.read()}")

    def drain(stream) -> None:
        for text in stream:
            log.append(text)
            del log[:-200]
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=drain, args=(stream,), daemon=True).start()
    return proc, line.split()[2].rstrip("/")


def end(proc: subprocess.Popen | None) -> None:
    """Stop a process `serve` started: TERM, then KILL if it lingers."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass(frozen=True)
class Enrolment:
    school_id: str
    secret: str


class HubProcess:
    """A running `classroom-hub serve` with its own data folder and database."""

    def __init__(self, folder: Path, name: str = "test-hub"):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
        self.env.update(CLASSROOM_HUB_DATA_DIR=str(folder), CLASSROOM_HUB_HUB_NAME=name,
                        CLASSROOM_HUB_SERVER_THREADS="4")
        self._schema = ExitStack()  # closed by stop(): the schema is dropped
        self.database_url = self._schema.enter_context(throwaway_schema("hub_")) if POSTGRES_URL else ""
        if self.database_url:
            self.env["CLASSROOM_HUB_DATABASE_URL"] = self.database_url
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0
        self.log: list[str] = []

    @property
    def kind(self) -> str:
        return "postgresql" if self.database_url else "sqlite"

    def cli(self, *args: str) -> str:
        done = subprocess.run([console_script("classroom-hub"), *args], env=self.env, capture_output=True,
                              text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"classroom-hub {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> "HubProcess":
        self.cli("init")
        self.proc, self.url = serve([console_script("classroom-hub"), "serve", "--port", "0"], self.env, self.log)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        end(self.proc)
        self.proc = None
        self._schema.close()

    def __enter__(self) -> "HubProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- schools --------------------------------------------------------------------------------

    def add_school(self, name: str = "School") -> Enrolment:
        answer = json.loads(self.cli("school", "add", name, "--json"))
        return Enrolment(answer["school_id"], answer["secret"])

    def fingerprint(self) -> str:
        """The current national key's fingerprint, as the ministry hands it out with a school's secret."""
        return self.cli("keys", "show", "--fingerprint").strip()

    def enroll_args(self, url: str, school_id: str, secret_file) -> list[str]:
        """`classroom-sync enroll` arguments for a school of this hub reached at `url` (plain http:// on
        loopback, hence --insecure-http), with the key's fingerprint given out of band."""
        return ["enroll", "--hub", url, "--school-id", school_id, "--secret-file", str(secret_file),
                "--national-key", self.fingerprint(), "--insecure-http"]

    def revoke(self, school_id: str) -> None:
        self.cli("school", "revoke", school_id)

    # --- what it holds ----------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        if self.database_url:
            import psycopg2
            conn = psycopg2.connect(self.database_url)
            try:
                with conn, conn.cursor() as cursor:
                    cursor.execute(sql.replace("?", "%s"), params)
                    return cursor.fetchall() if cursor.description else []
            finally:
                conn.close()
        conn = sqlite3.connect(self.folder / "hub.sqlite3", timeout=30)
        try:
            with conn:
                return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def records(self, school_id: str) -> list[tuple[int, str]]:
        """(seq, uuid) of every record the hub holds for the school, by seq (uuids in the usual spelling:
        the hub's SQLite keeps them as bare hex)."""
        return [(int(seq), str(uuid.UUID(str(uid)))) for seq, uid in
                self._query("SELECT seq, uuid FROM record WHERE school_id = ? ORDER BY seq", (school_id,))]

    def acked(self, school_id: str) -> int:
        return int(self._query("SELECT acked FROM school WHERE id = ?", (school_id,))[0][0])

    def forget_after(self, school_id: str, seq: int) -> None:
        """What a hub restored from an old backup would be: the records after `seq` gone."""
        self._query("DELETE FROM record WHERE school_id = ? AND seq > ?", (school_id, seq))
        self._query("UPDATE school SET acked = ? WHERE id = ?", (seq, school_id))
