"""Enrolling the school with the national platform from the admin page: the web server runs the same
`classroom-sync enroll` the IT person would type (a process of its own: the web server never imports
the sync agent), with the secret in a file only this user can read, removed afterwards."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: enroll asks the hub a few questions; over a satellite link that can take a while
ENROL_TIMEOUT = 120


class EnrolError(Exception):
    """Enrolment could not even be tried (the command is missing, a field is empty)."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    output: str  # what classroom-sync printed (English, as in a terminal)


def sync_command() -> str | None:
    """The `classroom-sync` beside this Python (the same virtual environment), or on the PATH."""
    beside = Path(sys.executable).parent / "classroom-sync"
    return str(beside) if beside.exists() else shutil.which("classroom-sync")


def enrol(data_dir: Path, hub_url: str, school_id: str, secret: str, fingerprint: str,
          insecure_http: bool = False, timeout: float = ENROL_TIMEOUT) -> Outcome:
    command = sync_command()
    if command is None:
        raise EnrolError("classroom-sync is not installed beside the web server")
    fields = {"hub address": hub_url, "school id": school_id, "secret": secret, "national key": fingerprint}
    empty = [name for name, value in fields.items() if not value.strip()]
    if empty:
        raise EnrolError("fill in: " + ", ".join(empty))
    handle, secret_path = tempfile.mkstemp(dir=data_dir, prefix=".enrol-secret-")  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(secret.strip() + "\n")
        args = [command, "--data-dir", str(data_dir), "enroll", "--hub", hub_url.strip(), "--school-id",
                school_id.strip(), "--secret-file", secret_path, "--national-key", fingerprint.strip()]
        if insecure_http:
            args.append("--insecure-http")
        try:
            done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "CLASSROOM_DATA_DIR": str(data_dir)})
        except subprocess.TimeoutExpired:
            return Outcome(False, f"classroom-sync enroll did not finish within {timeout:.0f} s: the hub may be "
                                  f"unreachable or very slow; try again when the link is up")
    finally:
        os.unlink(secret_path)
    return Outcome(done.returncode == 0, (done.stdout + done.stderr).strip())
