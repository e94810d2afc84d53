"""`classroom-server backup` and `restore`: round trip to a new machine, online consistency, refusals."""
from __future__ import annotations

import gzip
import io
import sqlite3
import tarfile
import threading

import pytest
from click.testing import CliRunner

from classroom_server import create_app
from classroom_server.admin import backup
from classroom_server.cli import main
from classroom_server.db import database
from classroom_server.settings import load_settings

from .packs import install_signed, pack_source

TABLES = ("user", "classroom", "membership", "school_setting", "content_pack", "content_node", "content_file",
          "migration_history")


def run(data_dir, *args, env=None):
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], env=env)


def dump(db_path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(str(db_path))
    try:
        return {table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in TABLES}
    finally:
        conn.close()


@pytest.fixture
def full_school(school, settings, tmp_path):
    """The conftest school plus an installed pack whose key is trusted in the INI file."""
    key_path, public = install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    settings.ini_path.write_text(f"[content]\ntrusted_keys = {public}\n", encoding="utf-8")
    (settings.data_dir / "school-signing-key.pem").write_bytes(key_path.read_bytes())
    return settings


def db_file(data_dir):
    return data_dir / "classroom.sqlite3"


def test_round_trip_with_content_into_a_new_data_folder(full_school, tmp_path):
    archive = tmp_path / "backups" / "school.tar.gz"
    archive.parent.mkdir()
    made = run(full_school.data_dir, "backup", str(archive), "--with-content")
    assert made.exit_code == 0, made.output
    assert archive.exists() and not list(archive.parent.glob(".partial-*"))

    new = tmp_path / "new-machine" / "data"
    restored = run(new, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "all 1 pack(s) have their content" in restored.output
    assert dump(db_file(new)) == dump(db_file(full_school.data_dir))
    for name in ("secret_key", "classroom-server.ini", "school-signing-key.pem"):
        assert (new / name).read_bytes() == (full_school.data_dir / name).read_bytes()
    assert (new / "secret_key").stat().st_mode & 0o777 == 0o600
    blobs = backup.BlobStore(new).all_hashes()
    assert blobs and blobs == backup.BlobStore(full_school.data_dir).all_hashes()

    app = create_app(load_settings(new, environ={}))
    assert app.test_client().get("/healthz").status_code == 200
    database.close()
    assert run(new, "doctor", "--all-content").exit_code == 0


def test_restore_without_content_keeps_the_catalog_and_names_the_packs_to_fetch(full_school, tmp_path):
    archive = tmp_path / "small.tar.gz"
    assert run(full_school.data_dir, "backup", str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        assert not [n for n in tar.getnames() if n.startswith("content/")]
    new = tmp_path / "new"
    result = run(new, "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "1 of 1 pack(s) need their content again" in result.output and "test.algebra" in result.output
    assert dump(db_file(new))["content_file"] == dump(db_file(full_school.data_dir))["content_file"]


def test_backup_while_the_server_keeps_writing_is_consistent(settings, app, tmp_path):
    source = db_file(settings.data_dir)
    setup = sqlite3.connect(str(source))
    setup.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY)")
    setup.commit()
    setup.close()
    stop, started = threading.Event(), threading.Event()
    written = []

    def writer():
        conn = sqlite3.connect(str(source), timeout=10)
        n = 0
        while not stop.is_set():
            conn.execute("INSERT INTO probe (n) VALUES (?)", (n,))
            conn.commit()
            written.append(n)
            n += 1
            if n == 50:
                started.set()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(10)
        archive = tmp_path / "online.tar.gz"
        backup.make_backup(settings, archive)
    finally:
        stop.set()
        thread.join()
    new = tmp_path / "new"
    backup.restore_backup(archive, new)
    conn = sqlite3.connect(str(db_file(new)))
    try:
        assert backup.integrity_errors(conn) == []
        rows = [r[0] for r in conn.execute("SELECT n FROM probe ORDER BY n")]
    finally:
        conn.close()
    assert len(rows) >= 50 and rows == list(range(len(rows)))  # a prefix: nothing torn, nothing skipped
    assert len(rows) <= len(written)


def test_restore_refuses_an_existing_database_and_moves_it_aside_with_force(full_school, tmp_path):
    data = full_school.data_dir
    archive = tmp_path / "b.tar.gz"
    assert run(data, "backup", str(archive)).exit_code == 0
    database.execute_sql("INSERT INTO school_setting (key, value) VALUES ('after_backup', 'yes')")
    before = dump(db_file(data))

    refused = run(data, "restore", str(archive))
    assert refused.exit_code == 1 and "already has a database" in refused.output and "--force" in refused.output
    assert dump(db_file(data)) == before and not list(data.glob("before-restore-*"))

    database.close()
    forced = run(data, "restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    [aside] = data.glob("before-restore-*")
    assert {"classroom.sqlite3", "secret_key", "classroom-server.ini", "school-signing-key.pem"} <= \
        {p.name for p in aside.iterdir()}
    assert dump(aside / "classroom.sqlite3") == before
    assert ("after_backup", "yes") not in dump(db_file(data))["school_setting"]
    assert "all 1 pack(s) have their content" in forced.output  # the store was left in place


def test_a_changed_byte_or_a_changed_file_is_refused(full_school, tmp_path):
    archive = tmp_path / "b.tar.gz"
    assert run(full_school.data_dir, "backup", str(archive)).exit_code == 0
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    flipped = tmp_path / "flipped.tar.gz"
    flipped.write_bytes(bytes(raw))
    result = run(tmp_path / "new1", "restore", str(flipped))
    assert result.exit_code == 1 and "damaged" in result.output
    assert not (tmp_path / "new1" / "classroom.sqlite3").exists()

    # A well-formed archive whose settings file was edited after the manifest was written.
    edited = tmp_path / "edited.tar.gz"
    with tarfile.open(archive) as old, tarfile.open(edited, "w:gz") as new:
        for member in old:
            data = old.extractfile(member).read()
            if member.name == "classroom-server.ini":
                data += b"\n[server]\nport = 1\n"
                member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    result = run(tmp_path / "new2", "restore", str(edited))
    assert result.exit_code == 1 and "does not match its SHA-256" in result.output
    assert not (tmp_path / "new2" / "classroom.sqlite3").exists()

    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar at all" * 100))
    assert run(tmp_path / "new3", "restore", str(junk)).exit_code == 1


def test_a_backup_from_a_newer_schema_is_refused(settings, app, tmp_path):
    database.execute_sql("INSERT INTO migration_history (number, name, applied_at) "
                         "VALUES (9999, '9999_future', '2026-01-01 00:00:00')")
    archive = tmp_path / "b.tar.gz"
    backup.make_backup(settings, archive)
    result = run(tmp_path / "new", "restore", str(archive))
    assert result.exit_code == 1 and "newer classroom-server (schema 9999" in result.output


def test_backup_refuses_postgresql_and_an_unwritable_target(settings, app, tmp_path):
    result = run(settings.data_dir, "backup", str(tmp_path / "b.tar.gz"),
                 env={"CLASSROOM_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"})
    assert result.exit_code == 1 and "pg_dump" in result.output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run(settings.data_dir, "backup", str(blocker / "b.tar.gz"))
    assert result.exit_code == 1 and "does not exist" in result.output
    result = run(tmp_path / "no-school", "backup", str(tmp_path / "b.tar.gz"))
    assert result.exit_code == 1 and "no database" in result.output


def with_settings(archive, out, ini: bytes):
    """`archive` with its settings file replaced by `ini`, the manifest made to match (as an attacker could)."""
    import hashlib
    import json
    with tarfile.open(archive) as old, tarfile.open(out, "w:gz") as new:
        members = [(m, old.extractfile(m).read()) for m in old]
        for member, data in members:
            if member.name == "manifest.json":
                manifest = json.loads(data)
                for entry in manifest["files"]:
                    if entry["path"] == "classroom-server.ini":
                        entry.update(sha256=hashlib.sha256(ini).hexdigest(), size=len(ini))
                data = json.dumps(manifest).encode()
            elif member.name == "classroom-server.ini":
                data = ini
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
    return out


@pytest.mark.parametrize("url", ["sqlite:///{outside}/victim.sqlite3", "sqlite:///{outside}/../outside/v.db",
                                 "sqlite:///{data}/../outside/v.db"])
def test_restore_never_writes_outside_the_data_folder(full_school, tmp_path, url):
    archive = tmp_path / "b.tar.gz"
    assert run(full_school.data_dir, "backup", str(archive)).exit_code == 0
    outside, new = tmp_path / "outside", tmp_path / "new"
    outside.mkdir()
    victim = outside / "victim.sqlite3"
    victim.write_bytes(b"someone else's file")
    ini = f"[database]\nurl = {url.format(outside=outside, data=new)}\n".encode()
    hostile = with_settings(archive, tmp_path / "hostile.tar.gz", ini)
    for args in ((), ("--force",)):
        result = run(new, "restore", str(hostile), *args)
        assert result.exit_code == 1 and "outside the data folder" in result.output, result.output
    assert sorted(p.name for p in outside.iterdir()) == ["victim.sqlite3"]
    assert victim.read_bytes() == b"someone else's file"
    assert not db_file(new).exists() and not list(new.glob("before-restore-*"))


def test_restore_may_use_the_database_place_this_server_already_uses(full_school, tmp_path):
    archive = tmp_path / "b.tar.gz"
    assert run(full_school.data_dir, "backup", str(archive)).exit_code == 0
    elsewhere = tmp_path / "disk2" / "school.sqlite3"
    url = f"sqlite:///{elsewhere}"
    hostile = with_settings(archive, tmp_path / "moved.tar.gz", f"[database]\nurl = {url}\n".encode())
    result = run(tmp_path / "new", "restore", str(hostile), env={"CLASSROOM_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert elsewhere.exists()
