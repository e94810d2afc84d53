"""`classroom-server doctor` finds planted faults and says how to fix them."""
from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from classroom_server.cli import main
from classroom_server.content.services import BlobStore
from classroom_server.db import database
from classroom_server.models import ContentFile

from .packs import install_signed, pack_source


def doctor(data_dir, *args):
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), "doctor", *args])


def level(output: str, name: str) -> str:
    match = re.search(rf"^(OK|WARN|FAIL)\s+{re.escape(name)}:", output, re.M)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


@pytest.fixture
def healthy(school, settings, tmp_path):
    """A demo-like school: accounts, an installed pack, a trusted key, the session key."""
    _key_path, public = install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    settings.ini_path.write_text(f"[content]\ntrusted_keys = {public}\n", encoding="utf-8")
    return settings


def a_blob(settings) -> str:
    return ContentFile.select().order_by(ContentFile.size.desc()).first().sha256


def test_a_healthy_school_passes(healthy):
    result = doctor(healthy.data_dir, "--all-content")
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    for name in ("settings", "data folder", "database", "journal mode", "schema", "clock", "secret key",
                 "trusted keys", "content files", "content hashes", "unused content"):
        assert level(result.output, name) == "OK", result.output


def test_a_deleted_blob_fails(healthy):
    BlobStore(healthy.data_dir).path(a_blob(healthy)).unlink()
    result = doctor(healthy.data_dir)
    assert result.exit_code == 1
    assert level(result.output, "content files") == "FAIL" and "test.algebra" in result.output


def test_a_corrupted_blob_fails_only_the_full_hash_check(healthy):
    path = BlobStore(healthy.data_dir).path(a_blob(healthy))
    raw = bytearray(path.read_bytes())
    raw[10] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert doctor(healthy.data_dir).exit_code == 0  # same size: only hashing can tell
    result = doctor(healthy.data_dir, "--all-content")
    assert result.exit_code == 1 and level(result.output, "content hashes") == "FAIL"


def test_an_orphan_blob_and_an_open_secret_key_warn(healthy):
    orphan = BlobStore(healthy.data_dir).path("ab" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left over")
    os.chmod(healthy.data_dir / "secret_key", 0o644)
    result = doctor(healthy.data_dir)
    assert result.exit_code == 0, result.output
    assert level(result.output, "unused content") == "WARN"
    assert level(result.output, "secret key") == "WARN" and "chmod 600" in result.output


def test_no_trusted_keys_warns(school, settings):
    result = doctor(settings.data_dir)
    assert result.exit_code == 0, result.output
    assert level(result.output, "trusted keys") == "WARN"


def test_a_corrupted_database_fails(healthy):
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    path = healthy.data_dir / "classroom.sqlite3"
    with open(path, "r+b") as handle:
        handle.write(b"\xde\xad" * 50)
    result = doctor(healthy.data_dir)
    assert result.exit_code == 1 and level(result.output, "database") == "FAIL"
    assert "restore" in result.output


def test_an_unusable_data_folder_fails(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = doctor(blocker / "data")
    assert result.exit_code == 1 and level(result.output, "data folder") == "FAIL"
    assert "is a file" in result.output


def test_a_missing_database_fails(tmp_path):
    (tmp_path / "data").mkdir()
    result = doctor(tmp_path / "data")
    assert result.exit_code == 1 and level(result.output, "database") == "FAIL"
    assert "classroom-server init" in result.output


def test_a_clock_behind_the_database_and_a_newer_schema_fail(healthy):
    database.execute_sql("UPDATE content_pack SET installed_at = '2099-01-01 00:00:00'")
    database.execute_sql("INSERT INTO migration_history (number, name, applied_at) "
                         "VALUES (9999, '9999_future', '2026-01-01 00:00:00')")
    result = doctor(healthy.data_dir)
    assert result.exit_code == 1
    assert level(result.output, "clock") == "FAIL" and "content_pack.installed_at" in result.output
    assert level(result.output, "schema") == "FAIL"


def test_the_sync_agent_not_running_warns_with_the_command(healthy):
    import datetime

    from classroom_server.admin.sync import beat
    result = doctor(healthy.data_dir)
    assert level(result.output, "sync agent") == "WARN" and "sudo systemctl start classroom-sync" in result.output
    beat(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=30))
    result = doctor(healthy.data_dir)
    assert level(result.output, "sync agent") == "WARN" and "not running since" in result.output
    beat()
    assert level(doctor(healthy.data_dir).output, "sync agent") == "OK"
