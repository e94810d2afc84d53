"""`classroom-server` commands: init, config, migrate, user, import, demo, serve; and their errors."""
from __future__ import annotations

import requests
from click.testing import CliRunner

from classroom_server import __version__, migrations
from classroom_server.cli import main
from tests.helpers import serving


def run(data_dir, *args, input=None, env=None):
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], input=input, env=env)
    return result


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_init_creates_admin_settings_and_refuses_a_second_time(tmp_path):
    data = tmp_path / "school"
    result = run(data, "init", "--admin", "it", "--name", "Ерлан", input="a-good-password\na-good-password\n")
    assert result.exit_code == 0, result.output
    assert (data / "classroom-server.ini").exists() and (data / "classroom.sqlite3").exists()
    assert "administrator it created" in result.output
    again = run(data, "init", "--admin", "it2", input="a-good-password\na-good-password\n")
    assert again.exit_code == 1 and "has an administrator already" in again.output


def test_init_rejects_a_short_password(tmp_path):
    password = tmp_path / "pw"
    password.write_text("short\n")
    result = run(tmp_path / "d", "init", "--admin", "it", "--password-file", str(password))
    assert result.exit_code == 1 and "at least 8 characters" in result.output


def test_config_init_and_show(tmp_path):
    result = run(tmp_path, "config", "init")
    assert result.exit_code == 0
    assert run(tmp_path, "config", "init").exit_code == 1  # no silent overwrite
    assert run(tmp_path, "config", "init", "--force").exit_code == 0
    shown = run(tmp_path, "config", "show", env={"CLASSROOM_SERVER_PORT": "9999"})
    assert "port = 9999" in shown.output


def test_invalid_settings_exit_1_with_the_place_named(tmp_path):
    (tmp_path / "classroom-server.ini").write_text("[server]\nthreads = many\n")
    result = run(tmp_path, "migrate")
    assert result.exit_code == 1
    assert "[server] threads = 'many': expected a whole number" in result.output


def test_unwritable_data_folder_is_explained(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run(blocker / "data", "migrate")
    assert result.exit_code == 1 and "cannot create the data folder" in result.output


def test_migrate_reports(tmp_path):
    assert run(tmp_path, "migrate").exit_code == 0
    assert "up to date" in run(tmp_path, "migrate").output


def test_user_create_list_passwd(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("teacher-pass-1\n")
    assert run(tmp_path, "user", "create", "aigul", "--role", "teacher", "--name", "Айгүл",
               "--password-file", str(pw)).exit_code == 0
    taken = run(tmp_path, "user", "create", "aigul", "--role", "teacher", "--password-file", str(pw))
    assert taken.exit_code == 1 and "is taken" in taken.output
    missing_class = run(tmp_path, "user", "create", "--role", "student", "--name", "Әлия", "--class", "5А")
    assert missing_class.exit_code == 1 and "there is no class" in missing_class.output
    assert run(tmp_path, "user", "create", "--role", "student", "--name", "Әлия").exit_code == 0
    listing = run(tmp_path, "user", "list").output
    assert "aigul\tАйгүл" in listing and "Әлия" in listing
    assert "Әлия" not in run(tmp_path, "user", "list", "--role", "teacher").output
    pw.write_text("another-pass-2\n")
    assert run(tmp_path, "user", "passwd", "aigul", "--password-file", str(pw)).exit_code == 0
    unknown = run(tmp_path, "user", "passwd", "nobody", "--password-file", str(pw))
    assert unknown.exit_code == 1 and "there is no user" in unknown.output


def test_user_import_reports_each_rejected_row(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_bytes(("\ufeffrole;username;display_name;password;class;pin\n"
                     "teacher;aigul;Айгүл Серікқызы;teacher-pass-1;5А;\n"
                     "student;;Әлия Нұрланқызы;;5А;4321\n"
                     "techer;x;Bad Role;;;\n"
                     "teacher;olga;Ольга;short;;\n"
                     "student;;Иван Петров;;5А;12\n"
                     "teacher;aigul;Again;teacher-pass-1;;\n").encode("utf-8"))
    result = run(tmp_path, "user", "import", str(csv))
    assert result.exit_code == 2, result.output
    assert "created 2 account(s), rejected 4 row(s)" in result.output
    assert "line 4: role 'techer' is not one of" in result.output
    assert "line 5: a password needs at least 8 characters" in result.output
    assert "line 6: a PIN is exactly 4 digits" in result.output
    assert "line 7: the username aigul is taken" in result.output
    assert "new class: 5А" in result.output


def test_user_import_dry_run_changes_nothing(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("role,display_name,class\nstudent,Әлия,5А\n", encoding="utf-8")
    result = run(tmp_path, "user", "import", "--dry-run", str(csv))
    assert result.exit_code == 0 and "would create 1 account(s)" in result.output
    assert "Әлия" not in run(tmp_path, "user", "list").output


def test_user_import_refuses_wrong_encoding_and_headers(tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"role,display_name\nstudent,\x98\xff\n")
    result = run(tmp_path, "user", "import", str(garbage))
    assert result.exit_code == 1 and "not text in UTF-8, UTF-16 or Windows-1251" in result.output
    cyrillic = tmp_path / "cp1251.csv"  # what Excel in Russian saves as "CSV"
    cyrillic.write_bytes("role;display_name\nstudent;Иван Петров\n".encode("cp1251"))
    assert run(tmp_path, "user", "import", str(cyrillic)).exit_code == 0
    assert "Иван Петров" in run(tmp_path, "user", "list", "--role", "student").output
    headless = tmp_path / "headless.csv"
    headless.write_text("student,Иван\n", encoding="utf-8")
    result = run(tmp_path, "user", "import", str(headless))
    assert result.exit_code == 1 and "missing: display_name, role" in result.output


def test_demo_is_made_once_and_reused(tmp_path):
    first = run(tmp_path, "demo", "--no-serve")
    assert first.exit_code == 0 and "Demo school created" in first.output
    assert "aigul" in first.output and "PIN 1234" in first.output
    second = run(tmp_path, "demo", "--no-serve")
    assert second.exit_code == 0 and "Demo school reused" in second.output
    listing = run(tmp_path, "user", "list", "--role", "student").output
    assert len(listing.strip().splitlines()) == 40
    assert "Айгерім" in listing and "Анна Смирнова" in listing


def test_serve_on_a_free_port_answers_healthz(tmp_path):
    with serving(tmp_path) as (_, url):
        health = requests.get(f"{url}/healthz", timeout=10)
        assert health.status_code == 200
        schema = max(m.number for m in migrations.available())
        assert health.json() == {"status": "ok", "version": __version__,
                                 "database": {"ok": True, "schema": schema}}


def test_database_from_a_newer_version_stops_every_command(tmp_path):
    import datetime

    from peewee import SqliteDatabase
    assert run(tmp_path, "migrate").exit_code == 0
    db = SqliteDatabase(str(tmp_path / "classroom.sqlite3"))
    with migrations.MigrationHistory.bind_ctx(db):
        migrations.MigrationHistory.create(number=9999, name="9999_future", applied_at=datetime.datetime.now())
    db.close()
    for command in (["migrate"], ["user", "list"], ["pack", "list"]):
        result = run(tmp_path, *command)
        assert result.exit_code == 1, command
        assert "upgraded by a newer classroom-server" in result.output


def test_admin_commands_are_in_the_audit_log_and_refused_ones_are_not(tmp_path):
    import getpass
    import sqlite3
    data = tmp_path / "school"
    password = tmp_path / "pw"
    password.write_text("a-good-password\n")
    assert run(data, "init", "--admin", "it", "--password-file", str(password)).exit_code == 0
    assert run(data, "user", "create", "dina", "--role", "teacher", "--password-file", str(password)).exit_code == 0
    assert run(data, "user", "passwd", "dina", "--password-file", str(password)).exit_code == 0
    assert run(data, "user", "passwd", "nobody", "--password-file", str(password)).exit_code == 1  # refused
    assert run(data, "user", "create", "dina", "--role", "teacher",
               "--password-file", str(password)).exit_code == 1  # taken: refused, nothing written
    backup = run(data, "backup", str(tmp_path / "b.tar.gz"))
    assert backup.exit_code == 0, backup.output
    with sqlite3.connect(data / "classroom.sqlite3") as db:
        found = db.execute("SELECT action, target, actor_name, details FROM audit_log ORDER BY id").fetchall()
    assert [(action, target) for action, target, _, _ in found] == [
        ("user.create", "dina"), ("user.password_reset", "dina"), ("backup.make", "b.tar.gz")]
    assert all(actor == f"command line ({getpass.getuser()})" for _, _, actor, _ in found)
    assert "a-good-password" not in " ".join(details for *_, details in found)
