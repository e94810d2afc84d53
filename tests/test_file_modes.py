"""The data folder is for the classroom user only, whatever the umask: made 0750, the database and
its WAL, the session key 0600; `classroom-server doctor` reports wider modes and `--fix` narrows them."""
from __future__ import annotations

import os
import stat

import pytest
from click.testing import CliRunner

from classroom_server import create_app, migrations
from classroom_server.cli import main
from classroom_server.db import database
from classroom_server.settings import load_settings


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The loosest umask a shell could have (0): files are made exactly as the code asks."""
    before = os.umask(0)
    yield
    os.umask(before)


def test_a_new_data_folder_is_private_whatever_the_umask(tmp_path, open_umask):
    data = tmp_path / "school"
    settings = load_settings(data, environ={})
    app = create_app(settings)
    database.connect(reuse_if_open=True)
    try:
        migrations.migrate(database.obj)
        with app.app_context():
            database.execute_sql("CREATE TABLE probe (x)")  # a write: the WAL exists now
    finally:
        database.close()
    assert mode(data) == 0o750
    assert mode(data / "classroom.sqlite3") == 0o600
    # The WAL is checkpointed away on close (the next test looks at it while open).
    for companion in ("classroom.sqlite3-wal", "classroom.sqlite3-shm", "classroom.sqlite3-writer.lock"):
        if (data / companion).exists():
            assert mode(data / companion) == 0o600, companion
    assert mode(data / "secret_key") == 0o600


def test_the_wal_has_the_database_s_mode_while_open(tmp_path, open_umask):
    settings = load_settings(tmp_path / "school", environ={})
    create_app(settings)
    database.connect(reuse_if_open=True)
    try:
        migrations.migrate(database.obj)
        wal = tmp_path / "school" / "classroom.sqlite3-wal"
        assert wal.exists()
        assert mode(wal) == 0o600
    finally:
        database.close()


def doctor(data_dir, *args):
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), "doctor", *args])


def test_doctor_reports_and_fixes_wide_modes(app, settings):
    data = settings.data_dir
    settings.ini_path.write_text("[server]\nport = 8080\n", encoding="utf-8")
    database.close()
    os.chmod(data, 0o777)
    os.chmod(data / "classroom.sqlite3", 0o644)
    os.chmod(settings.ini_path, 0o666)
    os.chmod(data / "secret_key", 0o640)
    report = doctor(data)
    line = next(line for line in report.output.splitlines() if " file modes:" in line)
    assert line.startswith("WARN") and "doctor --fix" in line
    for path, wrong, wanted in ((data, 0o777, 0o751), (data / "classroom.sqlite3", 0o644, 0o600),
                                (settings.ini_path, 0o666, 0o640), (data / "secret_key", 0o640, 0o600)):
        assert f"{path} has mode {wrong:04o}, should be {wanted:04o}" in line
    fixed = doctor(data, "--fix")
    line = next(line for line in fixed.output.splitlines() if " file modes:" in line)
    assert line.startswith("OK") and "narrowed" in line
    assert (mode(data), mode(data / "classroom.sqlite3"), mode(settings.ini_path), mode(data / "secret_key")) == \
        (0o751, 0o600, 0o640, 0o600)
    again = doctor(data)
    assert next(line for line in again.output.splitlines() if " file modes:" in line).startswith("OK")
