"""A school's records syncing to the real hub (tests/hubprocess.py): the hub per module, a template
school of 2,000 simulated records copied per test, its agent enrolled, what the hub holds checked
against the school, and `classroom-sync run` as a process of its own. A module imports the fixtures
by name: `from .schoolsync import hub  # noqa: F401  (module fixture)`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from classroom_server import migrations
from classroom_server.db import database
from classroom_server.demo import import_sample_packs
from classroom_server.learn.records import Interaction, new_device_id, record
from classroom_server.models import LearningRecord, SyncState, User
from classroom_server.settings import load_settings
from classroom_server.simulate import simulate
from sync.agent import Agent, main as sync_cli
from tests.helpers import reopen_database
from tests.hubprocess import HubProcess, console_script

TEMPLATE_RECORDS = 2000  # 20 students x 100


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubProcess(tmp_path_factory.mktemp("hub")) as running:
        running.cli("keys", "generate")  # a school enrols with its fingerprint
        yield running


def make_school_template(tmp_path_factory) -> Path:
    """A school with the sample packs and 2000 simulated records, made once and copied per test."""
    folder = tmp_path_factory.mktemp("school-template")
    settings = load_settings(folder, environ={})
    reopen_database(settings.effective_database_url)
    migrations.migrate(database.obj)
    import_sample_packs(settings)
    simulate(students=20, records=100, seed=7)
    database.close()  # the last connection checkpoints the WAL into the file
    return folder


def copy_school(school_template: Path, tmp_path: Path):
    """A copy of the template school for one test (its content files left out: sync does not need them)."""
    folder = tmp_path / "school"
    shutil.copytree(school_template, folder, ignore=shutil.ignore_patterns("content", "demo-packs"))
    yield folder
    if database.obj is not None and not database.is_closed():
        database.close()


def open_agent(folder: Path, **env: str) -> Agent:
    """The agent of the school in `folder`, as `classroom-sync` opens it, with settings from `env`."""
    settings = load_settings(folder, environ={"CLASSROOM_SYNC_TIMEOUT_SECONDS": "5", **env})
    reopen_database(settings.effective_database_url)
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    return Agent(settings, session)


def enroll(hub, folder: Path, url: str, enrolment, tmp_path: Path, expect_ok: bool = True):
    secret_file = tmp_path / f"secret-{enrolment.school_id}.txt"
    secret_file.write_text(enrolment.secret + "\n", encoding="ascii")
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(folder),
                                           *hub.enroll_args(url, enrolment.school_id, secret_file)])
    assert (result.exit_code == 0) == expect_ok, result.output
    return result


def enrolled(hub, link, school_dir, tmp_path, **env) -> tuple[Agent, str]:
    enrolment = hub.add_school("Test school")
    enroll(hub, school_dir, link.url, enrolment, tmp_path)
    return open_agent(school_dir, **env), enrolment.school_id


def school_records() -> list[tuple[int, str]]:
    return [(r.seq, r.uuid) for r in LearningRecord.select(LearningRecord.seq, LearningRecord.uuid)
            .order_by(LearningRecord.seq)]


def cursor() -> int:
    return SyncState.get_by_id(1).acked_seq


def assert_hub_has_exactly_the_school(hub, school_id: str) -> None:
    held = hub.records(school_id)
    assert len(held) == len({uid for _, uid in held}), "a record is doubled at the hub"
    assert held == school_records(), "the hub does not hold exactly the school's records"
    assert hub.acked(school_id) == cursor() == held[-1][0]


def add_records(count: int) -> None:
    """Students answering while the agent works."""
    student = User.select().where(User.role == "student").first()
    device = new_device_id()
    for _ in range(count):
        record(student, device, Interaction(verb="opened", pack_id="kz.sample.math5-fractions",
                                            node_id="fractions.lesson.compare", node_kind="lesson", language="kk"))


def start_daemon(folder, **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("CLASSROOM_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    environ.update(CLASSROOM_DATA_DIR=str(folder), **env)
    return subprocess.Popen([console_script("classroom-sync"), "run"], env=environ, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_daemon(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    return err


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the daemon exited ({proc.returncode}) while waiting for {what}:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
