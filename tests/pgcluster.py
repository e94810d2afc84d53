"""A throwaway PostgreSQL primary and streaming standby made with the machine's own binaries
(initdb, pg_basebackup -R), each on a free loopback port, for tests and benchmarks.

PostgreSQL refuses to run as root: as root the commands run as the `postgres` user (runuser).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("CLASSROOM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> str | None:
    """None when a cluster can be made here, else why not."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {BIN} (set CLASSROOM_TEST_PG_BIN to the folder holding initdb)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """`primary` and `standby` data folders under one temporary folder, started with `start()`."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="classroom-pg-"))
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.primary_port = free_port()
        self.standby_port = free_port()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(BIN / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.base)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def url(self, which: str = "primary", database: str = "postgres") -> str:
        port = self.primary_port if which == "primary" else self.standby_port
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def _conf(self, folder: str, port: int) -> None:
        with open(self.base / folder / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
                       "max_connections = 60\nwal_receiver_status_interval = 1s\nhot_standby_feedback = on\n")

    def start(self, standby: bool = True) -> "Cluster":
        self.run("initdb", "-D", str(self.base / "primary"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--locale", "C", "--no-sync")
        self._conf("primary", self.primary_port)
        self.run("pg_ctl", "-D", str(self.base / "primary"), "-l", str(self.base / "primary.log"), "-w", "start")
        if standby:
            self.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                     "-D", str(self.base / "standby"), "-R", "-X", "stream", "--no-sync")
            self._conf("standby", self.standby_port)
            self.start_standby()
        return self

    def start_standby(self) -> None:
        self.run("pg_ctl", "-D", str(self.base / "standby"), "-l", str(self.base / "standby.log"), "-w", "start")

    def stop_standby(self) -> None:
        self.run("pg_ctl", "-D", str(self.base / "standby"), "-m", "immediate", "-w", "stop", check=False)

    def sql(self, which: str, statement: str) -> list[tuple]:
        import psycopg2
        conn = psycopg2.connect(self.url(which))
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def wait_for_standby(self, timeout: float = 60.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        target = self.sql("primary", "SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replayed = self.sql("standby", f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0]
            if replayed:
                return
            time.sleep(0.05)
        raise TimeoutError("the standby did not catch up")

    def stop(self) -> None:
        for folder in ("standby", "primary"):
            if (self.base / folder / "postmaster.pid").exists():
                self.run("pg_ctl", "-D", str(self.base / folder), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
