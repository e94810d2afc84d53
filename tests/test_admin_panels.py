"""The admin page's panels on a real app and database: the device, people (reset password,
deactivate), sync history and settings, backups (made here and nightly by the agent), the settings
in force, and the recent events."""
from __future__ import annotations

import datetime
import os
import shutil
import sqlite3
import subprocess
import tarfile

import pytest

from classroom_server.admin import backup, device
from classroom_server.learn.records import Interaction, new_device_id, record
from classroom_server.models import AuditLog, LearningRecord, SyncLog, User
from classroom_server.settings import load_settings, render_ini
from sync.agent import Agent
from sync.agent.jobs import backup_job, backup_trigger

from . import pgtesting
from .helpers import PASSWORD, csrf_of, post, sign_in_as, sign_in_staff

LESSON = Interaction(verb="opened", pack_id="kz.sample.math5-fractions", node_id="fractions.lesson.compare",
                     node_kind="lesson", language="kk")


def text_of(response) -> str:
    """A page's HTML without the <wbr> line-break hints that long paths and messages get."""
    return response.get_data(as_text=True).replace("<wbr>", "")


# --- the device -------------------------------------------------------------------------------------

def test_device_panel_shows_version_uptime_disk_memory_database_and_students_online(client, school, app):
    with app.app_context():
        # Work from an hour ago does not count as online.
        old, _ = record(school.picture_student, new_device_id(), LESSON)
        LearningRecord.update(created_at=old.created_at - datetime.timedelta(hours=1)) \
            .where(LearningRecord.seq == old.seq).execute()
        for student in (school.student, school.other_student):
            record(student, new_device_id(), LESSON)
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    for text in ("This server", "Version", "0.1.0", "Server running for", "Disk of the data folder", " free of ",
                 "Memory", "available of", "Students online now", "Database", "SQLite"):
        assert text in page, text
    assert "<dt>Students online now</dt>\n    <dd>2 " in page


def test_students_online_counts_recent_students_among_many_records(app, school):
    now = datetime.datetime(2026, 11, 24, 10, 0)
    with app.app_context():
        device_id = new_device_id()
        for minutes_ago in range(120, 0, -1):  # one student, a record a minute for two hours
            row, _ = record(school.student, device_id, LESSON)
            LearningRecord.update(created_at=now - datetime.timedelta(minutes=minutes_ago)) \
                .where(LearningRecord.seq == row.seq).execute()
        assert device.students_online(now) == 1
        row, _ = record(school.other_student, new_device_id(), LESSON)
        LearningRecord.update(created_at=now - datetime.timedelta(minutes=2)).where(LearningRecord.seq == row.seq) \
            .execute()
        row, _ = record(school.teacher, new_device_id(), LESSON)  # a teacher trying a lesson is no student
        LearningRecord.update(created_at=now).where(LearningRecord.seq == row.seq).execute()
        assert device.students_online(now) == 2
        assert device.students_online(now + datetime.timedelta(minutes=10)) == 0


@pytest.mark.parametrize("free,total,level", [
    (50 * 2**30, 100 * 2**30, "ok"), (900 * 2**20, 100 * 2**30, "low"),  # under 1 GiB on a big disk
    (600 * 2**20, 8 * 2**30, "ok"), (300 * 2**20, 8 * 2**30, "low"),  # 5 % of a small disk: 410 MiB
    (10 * 2**20, 8 * 2**30, "full"),
])
def test_disk_levels(tmp_path, free, total, level):
    assert device.Disk(tmp_path, free, total).level == level


def test_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        2000000 kB\nMemFree:          100000 kB\nMemAvailable:     500000 kB\n")
    assert device.memory(meminfo) == device.Memory(2000000 * 1024, 500000 * 1024)
    assert device.memory(tmp_path / "missing") is None


# --- people -------------------------------------------------------------------------------------------

def test_people_list_shows_classes_and_status_and_finds_by_name(client, school):
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/users/{school.teacher.id}"' in page and "1Б, 5А" in page
    found = client.get("/admin/", query_string={"q": "Тимур"}).get_data(as_text=True)
    assert "Тимур Ахметов" in found and "Әлия" not in found
    assert "Nobody found." in client.get("/admin/", query_string={"q": "zzz"}).get_data(as_text=True)


def test_reset_password_shows_a_one_time_password_once_and_signs_them_out(app, school):
    admin, teacher = app.test_client(), app.test_client()
    sign_in_as(admin, school, "admin")
    sign_in_as(teacher, school, "teacher")
    response = post(admin, f"/admin/users/{school.teacher.id}/password")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "it is shown only this once" in page
    assert response.headers["Cache-Control"] == "no-store"
    password = page.split("<code>")[1].split("</code>")[0]
    assert len(password) == 14
    assert teacher.get("/coach/").status_code == 302  # signed out everywhere
    assert sign_in_staff(app.test_client(), "teacher").status_code == 401  # the old password is gone
    assert sign_in_staff(app.test_client(), "teacher", password).status_code == 302
    assert password not in admin.get(f"/admin/users/{school.teacher.id}").get_data(as_text=True)
    assert password not in AuditLog.get().details

    # A password the admin types is used as it is, and not shown back.
    response = post(admin, f"/admin/users/{school.teacher.id}/password", {"password": "typed-by-admin"})
    assert response.status_code == 200 and "typed-by-admin" not in response.get_data(as_text=True)
    assert sign_in_staff(app.test_client(), "teacher", "typed-by-admin").status_code == 302
    assert post(admin, f"/admin/users/{school.teacher.id}/password", {"password": "short"}).status_code == 400


def test_reset_password_refuses_students_and_oneself(client, school):
    sign_in_as(client, school, "admin")
    response = post(client, f"/admin/users/{school.student.id}/password")
    assert response.status_code == 400 and "PIN or picture code" in response.get_data(as_text=True)
    response = post(client, f"/admin/users/{school.admin.id}/password")
    assert response.status_code == 400 and "account page" in response.get_data(as_text=True)
    assert sign_in_staff(client, "boss").status_code == 302  # the admin's own password is unchanged


def test_deactivate_keeps_records_and_stops_sign_in_until_reactivated(app, school):
    with app.app_context():
        record(school.student, new_device_id(), LESSON)
    admin, student, teacher = app.test_client(), app.test_client(), app.test_client()
    sign_in_as(admin, school, "admin")
    sign_in_as(student, school, "student")
    sign_in_as(teacher, school, "teacher")

    for user in (school.student, school.teacher):
        response = post(admin, f"/admin/users/{user.id}/active", {"active": "0"})
        assert response.status_code == 302
    assert "deactivated" in admin.get(f"/admin/users/{school.teacher.id}").get_data(as_text=True)
    assert student.get("/learn/").status_code == 302 and teacher.get("/coach/").status_code == 302
    assert sign_in_staff(app.test_client(), "teacher").status_code == 403  # told: deactivated
    assert "Әлия" not in app.test_client().get(f"/signin/class/{school.pin_class.id}").get_data(as_text=True)
    response = app.test_client().post(f"/signin/class/{school.pin_class.id}/student/{school.student.id}",
                                      data={"pin": "4321"})
    assert response.status_code in (400, 403)
    assert LearningRecord.select().where(LearningRecord.user == school.student.id).count() == 1
    assert User.select().count() == 6  # nobody deleted

    assert post(admin, f"/admin/users/{school.teacher.id}/active", {"active": "1"}).status_code == 302
    assert sign_in_staff(app.test_client(), "teacher").status_code == 302
    page = admin.get(f"/admin/users/{school.student.id}").get_data(as_text=True)
    assert "Learning records</dt><dd>1" in page
    assert post(admin, f"/admin/users/{school.admin.id}/active", {"active": "0"}).status_code == 400
    assert post(admin, f"/admin/users/{school.teacher.id}/active", {}).status_code == 400
    assert User.get_by_id(school.admin.id).is_active


def test_there_is_no_way_to_delete_a_person(app):
    assert not [rule for rule in app.url_map.iter_rules()
                if rule.endpoint.startswith("admin.") and "delete" in rule.rule and "user" in rule.rule]


# --- sync history and settings --------------------------------------------------------------------------

def test_sync_page_shows_the_history_with_pages(client, school):
    start = datetime.datetime(2026, 11, 2, 8, 0)
    SyncLog.insert_many([{"started_at": start + datetime.timedelta(minutes=n), "finished_at":
                          start + datetime.timedelta(minutes=n, seconds=3), "ok": n % 10 != 0,
                          "error": "cannot reach the hub: Connection refused" if n % 10 == 0 else None,
                          "error_code": "link_down" if n % 10 == 0 else None, "records": n, "bytes": 1000 * n}
                         for n in range(60)]).execute()
    sign_in_as(client, school, "admin")
    page = text_of(client.get("/admin/sync"))
    assert "Sync history" in page and "Page 1 of 2" in page and "Older" in page
    assert "The national platform cannot be reached" in page and "Connection refused" in page
    assert "57.6 KB" in page  # the newest attempt first
    older = client.get("/admin/sync?page=2").get_data(as_text=True)
    assert "Newer" in older and "Page 2 of 2" in older


def test_sync_now_from_the_sync_page_comes_back_to_it(client, school):
    sign_in_as(client, school, "admin")
    page = client.get("/admin/sync").get_data(as_text=True)
    assert 'name="back" value="sync"' in page
    response = post(client, "/admin/sync", {"back": "sync"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/sync#sync-heading")


def test_sync_settings_are_written_to_the_file_keeping_its_comments_and_the_agent_takes_them(client, school,
                                                                                             settings):
    settings.ini_path.write_text(render_ini(), encoding="utf-8")
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/sync/settings", {"hours": "18:00-06:00, 12:00-13:00", "bandwidth": "25000"})
    assert response.status_code == 302
    text = settings.ini_path.read_text(encoding="utf-8")
    assert "hours = 18:00-06:00, 12:00-13:00" in text and "bandwidth_bytes_per_second = 25000" in text
    assert "# Waitress worker threads" in text  # the rest of the file as it was
    assert not [p for p in settings.data_dir.iterdir() if p.name.startswith(".classroom-server.ini")]
    fresh = load_settings(settings.data_dir, environ={})
    assert fresh.sync_hours == "18:00-06:00, 12:00-13:00" and fresh.sync_bandwidth_bytes_per_second == 25000

    # The daemon reads the file again before each run.
    agent = Agent(settings, reread_settings=True)
    agent.refresh_settings()
    assert agent.settings.sync_hours == "18:00-06:00, 12:00-13:00"
    assert agent.settings.sync_bandwidth_bytes_per_second == 25000
    assert Agent(settings).settings.sync_hours == "00:00-24:00"  # `once` and tests: as given

    page = client.get("/admin/sync").get_data(as_text=True)
    assert 'value="18:00-06:00, 12:00-13:00"' in page and "from its next sync" in page
    row = AuditLog.get(AuditLog.action == "settings.change")
    assert "00:00-24:00 → 18:00-06:00, 12:00-13:00" in row.details and row.actor_name == "boss"


@pytest.mark.parametrize("form,message", [
    ({"hours": "8-15", "bandwidth": "0"}, "windows of the day"),
    ({"hours": "25:00-26:00", "bandwidth": "0"}, "windows of the day"),
    ({"hours": "00:00-24:00", "bandwidth": "-5"}, "whole number of bytes"),
    ({"hours": "00:00-24:00", "bandwidth": "lots"}, "whole number of bytes"),
])
def test_bad_sync_settings_change_nothing(client, school, settings, form, message):
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/sync/settings", form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert not settings.ini_path.exists() and AuditLog.select().count() == 0


def test_an_environment_variable_that_wins_over_the_file_is_pointed_out(client, school, monkeypatch):
    monkeypatch.setenv("CLASSROOM_SYNC_HOURS", "01:00-02:00")
    sign_in_as(client, school, "admin")
    page = client.get("/admin/sync").get_data(as_text=True)
    assert "wins over the settings file: CLASSROOM_SYNC_HOURS" in page


def test_a_symlinked_settings_file_is_changed_where_it_is(client, school, settings, tmp_path):
    real = tmp_path / "etc"
    real.mkdir()
    (real / "classroom-server.ini").write_text("[sync]\nhours = 00:00-24:00\n", encoding="utf-8")
    settings.ini_path.symlink_to(real / "classroom-server.ini")
    sign_in_as(client, school, "admin")
    assert post(client, "/admin/sync/settings", {"hours": "20:00-22:00", "bandwidth": "0"}).status_code == 302
    assert settings.ini_path.is_symlink() and "20:00-22:00" in (real / "classroom-server.ini").read_text()


def test_an_unwritable_settings_file_is_a_clear_error(client, school, settings, tmp_path):
    """The settings on a read-only file system (as /etc is under systemd's ProtectSystem=strict)."""
    etc = tmp_path / "etc"
    etc.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(etc)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (etc / "classroom-server.ini").write_text("[sync]\nhours = 00:00-24:00\n", encoding="utf-8")
        subprocess.run(["mount", "-o", "remount,ro", str(etc)], check=True)
        settings.ini_path.symlink_to(etc / "classroom-server.ini")
        sign_in_as(client, school, "admin")
        response = post(client, "/admin/sync/settings", {"hours": "20:00-22:00", "bandwidth": "0"})
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and "The settings file could not be changed" in page
        assert "Read-only file system" in page and "by hand" in page
        assert "00:00-24:00" in (etc / "classroom-server.ini").read_text() and AuditLog.select().count() == 0
    finally:
        subprocess.run(["umount", "-l", str(etc)], check=False)


# --- backups -----------------------------------------------------------------------------------------

def test_make_list_download_and_remove_a_backup(client, school, settings, tmp_path):
    sign_in_as(client, school, "admin")
    assert client.post("/admin/backups").status_code == 400  # no CSRF token
    response = post(client, "/admin/backups")
    assert response.status_code == 302
    made = backup.list_backups(settings)
    assert len(made) == 1 and made[0].kind == "manual" and made[0].name.startswith("manual-")
    assert (settings.data_dir / "backups" / made[0].name).stat().st_mode & 0o777 == 0o600
    page = client.get("/admin/backups").get_data(as_text=True)
    assert made[0].name in page and "made on this page" in page and "restore --force" in page

    download = client.get(f"/admin/backups/{made[0].name}")
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert "attachment" in download.headers["Content-Disposition"]
    archive = tmp_path / "downloaded.tar.gz"
    archive.write_bytes(download.data)
    with tarfile.open(archive) as tar:
        assert {"classroom.sqlite3", "manifest.json", "secret_key"} <= set(tar.getnames())
    restored = backup.restore_backup(archive, tmp_path / "new-machine")
    assert restored.schema >= 8
    conn = sqlite3.connect(str(tmp_path / "new-machine" / "classroom.sqlite3"))
    try:
        assert conn.execute('SELECT COUNT(*) FROM "user"').fetchone()[0] == 6
    finally:
        conn.close()

    assert client.get("/admin/backups/../classroom.sqlite3").status_code == 404
    assert client.get("/admin/backups/classroom-server.ini").status_code == 404
    assert client.get("/admin/backups/manual-20260101-000000.tar.gz").status_code == 404
    assert post(client, f"/admin/backups/{made[0].name}/delete").status_code == 302
    assert backup.list_backups(settings) == []
    actions = [row.action for row in AuditLog.select().order_by(AuditLog.id)]
    assert actions == ["backup.make", "backup.download", "backup.delete"]


def test_nightly_backup_job_keeps_the_newest_and_is_shown(client, school, settings):
    agent = Agent(settings.replace(backup_keep=2))
    folder = settings.data_dir / "backups"
    folder.mkdir()
    for n, name in enumerate(("nightly-20260101-023000.tar.gz", "nightly-20260102-023000.tar.gz",
                              "manual-20260101-120000.tar.gz")):
        (folder / name).write_bytes(b"old")
        os.utime(folder / name, (1767225600 + n * 86400,) * 2)
    (folder / ".partial-nightly-x").write_bytes(b"left by a power cut")
    os.utime(folder / ".partial-nightly-x", (1767225600,) * 2)
    assert backup_job(agent)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 3 and "nightly-20260102-023000.tar.gz" in names and "manual-20260101-120000.tar.gz" in names
    assert "nightly-20260101-023000.tar.gz" not in names and ".partial-nightly-x" not in names
    row = AuditLog.get(AuditLog.action == "backup.nightly")
    assert row.actor_name == "classroom-sync" and row.actor_id is None and '"ok": true' in row.details

    sign_in_as(client, school, "admin")
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "Last nightly backup" in page and "every night at 02:30 and keeps the newest 7" in page


def test_a_failed_nightly_backup_is_shown_on_the_page(client, school, settings):
    (settings.data_dir / "backups").write_text("a file where the folder should be")
    assert not backup_job(Agent(settings))
    row = AuditLog.get(AuditLog.action == "backup.nightly")
    assert '"ok": false' in row.details
    sign_in_as(client, school, "admin")
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "The last nightly backup failed" in page and "cannot create the backups folder" in page
    response = post(client, "/admin/backups")
    assert response.status_code == 400 and "The backup was not made" in response.get_data(as_text=True)


def test_nightly_backup_time_setting(tmp_path):
    trigger = backup_trigger(load_settings(tmp_path, environ={"CLASSROOM_BACKUP_TIME": "3:05"}))
    fire = trigger.get_next_fire_time(None, datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc))
    assert (fire.hour, fire.minute, str(fire.tzinfo)) == (3, 5, "Asia/Almaty")
    assert backup_trigger(load_settings(tmp_path, environ={"CLASSROOM_BACKUP_TIME": "off"})) is None
    for bad in ("25:00", "2.30", "noon"):
        with pytest.raises(Exception, match="CLASSROOM_BACKUP_TIME"):
            load_settings(tmp_path, environ={"CLASSROOM_BACKUP_TIME": bad})


# --- settings in force, recent events, roles -------------------------------------------------------------

def test_settings_page_says_where_each_value_comes_from_and_masks_passwords(client, school, settings,
                                                                            monkeypatch):
    settings.ini_path.write_text("[server]\nthreads = 4\n[database]\nurl = postgresql://classroom:s3cret@db/school\n",
                                 encoding="utf-8")
    monkeypatch.setenv("CLASSROOM_SYNC_TIMEOUT_SECONDS", "60")
    sign_in_as(client, school, "admin")
    page = text_of(client.get("/admin/settings"))
    assert "s3cret" not in page and "postgresql://classroom:***@db/school" in page
    assert "environment variable</td>" not in page  # the variable's name is given
    assert "environment variable <code>CLASSROOM_SYNC_TIMEOUT_SECONDS</code>" in page
    threads = page.split("[server] threads")[1].split("</tr>")[0]
    assert "<code>4</code>" in threads and "settings file" in threads
    assert "Restart needed: the running web server still uses 8" in threads  # it started before the file changed
    assert "sudo systemctl restart classroom-server" in threads
    port = page.split("[server] port")[1].split("</tr>")[0]
    assert "<code>8080</code>" in port and "default" in port
    assert "docs/configuration.md" in page


def test_recent_events_merge_audit_and_sync_and_point_to_the_journal(client, school):
    sign_in_as(client, school, "admin")
    post(client, "/admin/sync")
    SyncLog.create(started_at=datetime.datetime(2026, 1, 1), finished_at=datetime.datetime(2026, 1, 1), ok=False,
                   error="x", error_code="clock", records=0, bytes=0)
    page = client.get("/admin/log").get_data(as_text=True)
    assert "Sync asked for" in page and "clock" in page.lower() and "journalctl -u classroom-server" in page


@pytest.mark.parametrize("url", ["/admin/sync", "/admin/backups", "/admin/settings", "/admin/log", "/admin/audit",
                                 "/admin/users/1"])
def test_teachers_and_students_cannot_open_the_panels(client, school, url):
    for role in ("teacher", "student"):
        fresh = client.application.test_client()
        sign_in_as(fresh, school, role)
        assert fresh.get(url).status_code == 403


@pytest.mark.parametrize("language,english", [("kk", "Backups on this server"), ("ru", "Make a backup now")])
def test_panels_are_translated(client, school, language, english):
    sign_in_as(client, school, "admin")
    page = client.get("/admin/backups", headers={"Accept-Language": language}).get_data(as_text=True)
    assert english not in page


def test_csrf_is_required_for_every_panel_action(client, school):
    sign_in_as(client, school, "admin")
    csrf_of(client)
    for url in ("/admin/backups", "/admin/sync/settings", f"/admin/users/{school.teacher.id}/password",
                f"/admin/users/{school.teacher.id}/active"):
        assert client.post(url, data={"active": "0"}).status_code == 400
    assert User.get_by_id(school.teacher.id).is_active and AuditLog.select().count() == 0
    assert PASSWORD  # the teacher's password still works:
    assert sign_in_staff(client.application.test_client(), "teacher").status_code == 302


# --- on PostgreSQL -----------------------------------------------------------------------------------

pg_schema = pgtesting.pg_schema
pg_app = pgtesting.pg_app


@pytest.mark.postgres
@pytest.mark.skipif(not pgtesting.URL, reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_admin_panels_on_postgres(pg_app):
    from classroom_server import migrations
    from classroom_server.accounts import services as accounts
    from classroom_server.db import database
    migrations.migrate(database.obj)
    with pg_app.app_context():
        accounts.create_user("boss", "Admin Person", "admin", PASSWORD)
        student = accounts.create_user(None, "Әлия", "student")
        record(student, new_device_id(), LESSON)
    client = pg_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert sign_in_staff(client, "boss").status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert "PostgreSQL, " in page and "<dt>Students online now</dt>\n    <dd>1 " in page
    for url in ("/admin/sync", "/admin/settings", "/admin/log", "/admin/audit", f"/admin/users/{student.id}"):
        assert client.get(url).status_code == 200, url
    assert "back it up with pg_dump" in client.get("/admin/backups").get_data(as_text=True)
    response = post(client, "/admin/backups")
    assert response.status_code == 400 and "pg_dump" in response.get_data(as_text=True)
    post(client, "/admin/sync")
    assert [row.action for row in AuditLog.select()] == ["sync.now"]


def test_settings_page_title_is_text_and_the_school_rules_form_is_there_once(client, school):
    # The page title once held the school rules form's HTML: a browser tab and a screen reader
    # showed its source.
    sign_in_as(client, school, "admin")
    html = client.get("/admin/settings").get_data(as_text=True)
    title = html[html.index("<title>") + 7:html.index("</title>")]
    assert "<" not in title and "&lt;" not in title and "Settings" in title
    assert html.count('action="/admin/settings/school"') == 1
