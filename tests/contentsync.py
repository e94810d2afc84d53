"""Content packs syncing from the real hub (tests/hubprocess.py) to a school: the hub per module, an
empty migrated school, its agent enrolled, packs of random media built and published, the
downloader run once. A module imports the fixtures by name:
`from .contentsync import hub, school_dir  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from classroom_server import migrations
from classroom_server.db import database
from classroom_server.models import SchoolSetting
from classroom_server.settings import load_settings
from sync.agent import Agent, main as sync_cli
from sync.agent.content import Downloader
from tests.helpers import reopen_database
from tests.hubprocess import HubProcess
from tests.packs import build, pack_source


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubProcess(tmp_path_factory.mktemp("hub")) as running:
        running.cli("keys", "generate")
        yield running


@pytest.fixture
def school_dir(tmp_path):
    folder = tmp_path / "school"
    settings = load_settings(folder, environ={})
    reopen_database(settings.effective_database_url)
    migrations.migrate(database.obj)
    yield folder
    if database.obj is not None and not database.is_closed():
        database.close()


def open_agent(folder: Path, **env: str) -> Agent:
    settings = load_settings(folder, environ={"CLASSROOM_SYNC_TIMEOUT_SECONDS": "5",
                                              "CLASSROOM_CONTENT_DISK_RESERVE_MB": "1", **env})
    reopen_database(settings.effective_database_url)
    session = requests.Session()
    session.trust_env = False
    return Agent(settings, session)


def enrolled(hub, link, folder: Path, tmp_path: Path, **env) -> tuple[Agent, str]:
    enrolment = hub.add_school("Content school")
    secret_file = tmp_path / f"secret-{enrolment.school_id}"
    secret_file.write_text(enrolment.secret + "\n", encoding="ascii")
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(folder),
                                           *hub.enroll_args(link.url, enrolment.school_id, secret_file)])
    assert result.exit_code == 0, result.output
    assert "national signing key(s) for content packs" in result.output
    return open_agent(folder, **env), enrolment.school_id


def big_pack(tmp_path: Path, pack_id: str, version: str, files: int, size: int, seed: int = 1,
             changed: int = 0) -> tuple[Path, dict[str, bytes]]:
    """A pack with `files` random files of `size` bytes (incompressible, as media is); the first
    `changed` of them differ from the same pack built with changed=0."""
    rng = random.Random(seed)
    extra = {f"media/part-{n:03d}.bin": rng.randbytes(size) for n in range(files)}
    for n in range(changed):
        extra[f"media/part-{n:03d}.bin"] = random.Random(f"{seed}-{version}-{n}").randbytes(size)
    source = pack_source(tmp_path / f"src-{pack_id}-{version}", pack_id=pack_id, version=version, extra_files=extra)
    return build(source, tmp_path / f"{pack_id}-{version}.ckpack", None), extra


def publish(hub, path: Path, school_id: str) -> None:
    hub.cli("pack", "publish", str(path), "--school", school_id)


def catalog_pack(pack_id: str) -> dict:
    stored = json.loads(SchoolSetting.get(SchoolSetting.key == "sync.catalog").value)
    return next(p for p in stored["catalog"]["packs"] if p["id"] == pack_id)


def run_content(agent: Agent, **options) -> tuple[Downloader, object]:
    downloader = Downloader(agent.client, retry_failed=options.pop("retry_failed", False), **options)
    return downloader, downloader.run()
