"""The IT person's day (issue 19): a deactivated person is told so at sign-in; sync trouble is loud on
the admin home (days without a successful sync, what to check in order); the admin page shows whether
the sync agent runs, from the heartbeat its loop writes."""
from __future__ import annotations

import datetime
import json

import pytest
from click.testing import CliRunner

from classroom_server.admin import sync as admin_sync
from classroom_server.models import SchoolSetting, SyncState, utcnow
from sync.agent import main as sync_cli
from sync.agent.status import status_lines

from .helpers import post, serve_until_ready, sign_in_as, sign_in_staff
from .schoolsync import start_daemon, stop_daemon, wait_for


def _deactivate(client, user) -> None:
    response = post(client, f"/admin/users/{user.id}/active", {"active": "0"})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_a_deactivated_teacher_is_told_her_account_is_deactivated(app, school):
    admin = app.test_client()
    sign_in_as(admin, school, "admin")
    _deactivate(admin, school.teacher)
    teacher = app.test_client()
    response = sign_in_staff(teacher, "teacher")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "This account is deactivated" in page
    # Only the right password learns that: a wrong one reads as any wrong password.
    response = sign_in_staff(teacher, "teacher", "not her password")
    page = response.get_data(as_text=True)
    assert response.status_code == 401 and "deactivated" not in page and "Wrong username or password" in page
    teacher.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    page = sign_in_staff(teacher, "teacher").get_data(as_text=True)
    assert "This account is deactivated" not in page and "учётная запись отключена" in page
    post(admin, f"/admin/users/{school.teacher.id}/active", {"active": "1"})
    assert sign_in_staff(teacher, "teacher").status_code == 302


def test_a_deactivated_student_following_an_old_link_is_told(app, school):
    admin = app.test_client()
    sign_in_as(admin, school, "admin")
    _deactivate(admin, school.student)
    tablet = app.test_client()
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    response = tablet.get(url)
    assert response.status_code == 403 and "This account is deactivated" in response.get_data(as_text=True)
    response = post(tablet, url, {"pin": "4321"})
    assert response.status_code == 403 and "This account is deactivated" in response.get_data(as_text=True)


def _enrolled(last_success: datetime.datetime | None, started: datetime.datetime | None = None) -> None:
    """What the agent writes once enrolled (sync_state) and after its attempts (sync_log)."""
    from classroom_server.models import SyncLog
    admin_sync.state_row()
    SyncState.update(hub_url="https://hub.example.kz", school_id="sch-abc123", last_success_at=last_success,
                     last_attempt_at=utcnow(), last_error_code="link_down",
                     last_error="cannot reach the hub at https://hub.example.kz: Connection refused").execute()
    if started is not None:
        SyncLog.create(started_at=started, finished_at=started, ok=False, error="link down", error_code="link_down")


def test_days_without_a_successful_sync_are_a_warning_with_what_to_check(client, school, settings):
    sign_in_as(client, school, "admin")
    _enrolled(utcnow() - datetime.timedelta(days=2, hours=1))
    assert 'id="sync-overdue"' not in client.get("/admin/").get_data(as_text=True)  # 3 days by default

    _enrolled(utcnow() - datetime.timedelta(days=4, hours=1))
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="sync-overdue"' in page and "No successful sync for 4 days." in page
    checks = ["The sync agent runs", "The internet link is up", "The hub address is right",
              "The enrolment still holds", "clock is right", "The disk has room"]
    where = [page.index(check) for check in checks]
    assert where == sorted(where), "the checks are not in order"
    assert "hub.example.kz" in page and "[sync] warn_after_days" in page
    ru = client.get("/admin/", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert 'id="sync-overdue"' in ru and "No successful sync" not in ru  # translated

    # The setting takes effect without restarting the web server: it is read from the file each time.
    settings.ini_path.write_text("[sync]\nwarn_after_days = 5\n", encoding="utf-8")
    assert 'id="sync-overdue"' not in client.get("/admin/").get_data(as_text=True)


def test_an_enrolled_school_that_never_synced_warns_from_its_first_attempt(client, school):
    sign_in_as(client, school, "admin")
    _enrolled(None)  # enrolled, no attempt logged yet: nothing to warn about
    assert 'id="sync-overdue"' not in client.get("/admin/").get_data(as_text=True)
    _enrolled(None, started=utcnow() - datetime.timedelta(days=6))
    page = client.get("/admin/").get_data(as_text=True)
    assert "No successful sync for 6 days." in page


def test_the_admin_page_shows_whether_the_sync_agent_runs(client, school, settings):
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "not running (never seen)" in page and "sudo systemctl start classroom-sync" in page

    daemon = start_daemon(settings.data_dir)
    try:
        wait_for(lambda: admin_sync.heartbeat() is not None, 60, "the agent's heartbeat", daemon)
    finally:
        stop_daemon(daemon)
    page = client.get("/admin/sync").get_data(as_text=True)
    assert "running (last seen" in page and "sudo systemctl start classroom-sync" not in page

    # Ten minutes later the agent has not written again: it is not running.
    SchoolSetting.update(value=(utcnow() - datetime.timedelta(minutes=10)).isoformat()).where(
        SchoolSetting.key == admin_sync.HEARTBEAT_SETTING).execute()
    page = client.get("/admin/").get_data(as_text=True)
    assert "not running since" in page and "sudo systemctl start classroom-sync" in page


def test_the_heartbeat_writes_at_most_once_a_minute(app):
    now = datetime.datetime(2026, 12, 1, 9, 0)
    assert admin_sync.beat(now)
    assert not admin_sync.beat(now + datetime.timedelta(seconds=30))
    assert admin_sync.heartbeat() == now
    assert admin_sync.beat(now + datetime.timedelta(seconds=61))


def test_classroom_sync_status_says_whether_the_agent_is_alive_as_the_admin_page_does(app, settings):
    def status(*args: str):
        result = CliRunner().invoke(sync_cli, ["--data-dir", str(settings.data_dir), "status", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "agent:            NOT running (never seen); start it: `sudo systemctl start classroom-sync`" in status()
    assert json.loads(status("--json"))["agent"] == {"alive": False, "last_seen": None}

    admin_sync.beat(utcnow() - datetime.timedelta(minutes=2))
    assert "agent:            alive, last seen" in status() and "(2 min ago)" in status()
    assert json.loads(status("--json"))["agent"]["alive"] is True

    SchoolSetting.update(value=(utcnow() - datetime.timedelta(minutes=37)).isoformat()).where(
        SchoolSetting.key == admin_sync.HEARTBEAT_SETTING).execute()
    text = status()
    assert "agent:            NOT running (last seen" in text and "(37 min ago)" in text
    assert "sudo systemctl start classroom-sync" in text


def test_a_plain_http_hub_is_answered_with_the_admin_pages_enrolment_form(app, school):
    state = admin_sync.state_row()
    SyncState.update(hub_url="http://hub.lab:8800", school_id="sch-lab7").where(SyncState.id == state.id).execute()
    words = "\n".join(status_lines(admin_sync.sync_status()))
    assert "WARNING plain http://" in words and "enrolment form on the school's admin page" in words
    assert "--insecure-http" not in words
    client = app.test_client()
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "in the enrolment form" in page and 'href="/admin/sync#enrol-heading"' in page
    assert "--insecure-http" not in page and 'id="enrol-heading"' in client.get("/admin/sync").get_data(as_text=True)


def test_a_students_pin_is_reset_from_the_persons_page(app, school):
    import re
    admin = app.test_client()
    sign_in_as(admin, school, "admin")
    page = admin.get(f"/admin/users/{school.student.id}").get_data(as_text=True)
    assert "Give a new PIN" in page
    response = post(admin, f"/admin/users/{school.student.id}/secret")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "The new PIN of" in page
    pin = re.search(r"<code>(\d{4})</code>", page).group(1)
    tablet = app.test_client()
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    if pin != "4321":
        assert post(tablet, url, {"pin": "4321"}).status_code == 401  # the old PIN stopped working
    assert post(tablet, url, {"pin": pin}).status_code == 302
    assert "PIN or picture code reset" in admin.get("/admin/audit").get_data(as_text=True)

    page = post(admin, f"/admin/users/{school.picture_student.id}/secret").get_data(as_text=True)
    code = re.search(r"<code>([a-z]+-[a-z]+-[a-z]+)</code>", page).group(1)
    assert "The new picture code of" in page
    response = post(tablet, f"/signin/class/{school.picture_class.id}/student/{school.picture_student.id}",
                    {f"picture{i}": part for i, part in enumerate(code.split("-"))})
    assert response.status_code == 302

    response = post(admin, f"/admin/users/{school.other_student.id}/secret")  # a class that signs in by name
    assert response.status_code == 400 and "signs in by name only" in response.get_data(as_text=True)


def test_deactivating_a_teacher_hands_her_classes_over_or_lists_them_without_one(app, school):
    from classroom_server.models import Membership
    admin = app.test_client()
    sign_in_as(admin, school, "admin")
    page = admin.get(f"/admin/users/{school.teacher.id}").get_data(as_text=True)
    assert "Who takes their classes (1Б, 5А)?" in page and "Ольга Петровна" in page
    response = post(admin, f"/admin/users/{school.teacher.id}/active",
                    {"active": "0", "successor": str(school.other_teacher.id)})
    assert response.status_code == 302
    taught = {m.classroom.name for m in Membership.select().where(Membership.user == school.other_teacher.id)}
    assert taught == {"5А", "1Б", "9В"}
    page = admin.get(f"/admin/users/{school.teacher.id}").get_data(as_text=True)
    assert "Ольга Петровна now teaches 1Б, 5А." in page
    assert "Classes without a teacher" not in admin.get("/admin/").get_data(as_text=True)

    # The last teacher leaves with nobody to take over: the classes are listed, and get a teacher there.
    response = post(admin, f"/admin/users/{school.other_teacher.id}/active", {"active": "0", "successor": ""})
    assert response.status_code == 302
    assert "have no teacher now" in admin.get(f"/admin/users/{school.other_teacher.id}").get_data(as_text=True)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Classes without a teacher" in page and "Teacher of 9В" in page
    assert post(admin, f"/admin/classes/{school.other_class.id}/teacher", {"teacher": ""}).status_code == 400
    post(admin, f"/admin/users/{school.teacher.id}/active", {"active": "1"})
    response = post(admin, f"/admin/classes/{school.other_class.id}/teacher", {"teacher": str(school.teacher.id)})
    assert response.status_code == 302
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Classes without a teacher" not in page  # 9В is hers now, 5А and 1Б were hers before
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert "Classes handed to another teacher" in audit and "Teacher given to a class" in audit


def test_backup_file_names_are_in_the_schools_time_zone(app, tmp_path):
    """Kiritimati is 14 hours ahead of UTC: its date is another day than UTC's at every hour but 10-23."""
    from classroom_server.admin import backup
    from classroom_server.settings import load_settings
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "classroom-server.ini").write_text("[i18n]\ntimezone = Pacific/Kiritimati\n")
    settings = load_settings(tmp_path / "data", environ={})
    before = settings.school_now()
    made = backup.backup_into_folder(settings, "manual")
    restored = backup.restore_backup(made.path, settings.data_dir, force=True)
    after = settings.school_now()
    stamps = {moment.strftime("%Y%m%d-%H") for moment in (before, after)}
    assert made.path.name[len("manual-"):len("manual-20261206-23")] in stamps, (made.path.name, stamps)
    assert restored.moved_aside.name[len("before-restore-"):len("before-restore-20261206-23")] in stamps
    utc = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H")
    assert utc not in stamps  # 14 hours apart: the name could not be UTC's


def test_a_small_pack_is_shown_in_kb_not_as_zero_mb(client, school, settings, tmp_path):
    from .packs import install_signed, pack_source
    install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    sign_in_as(client, school, "admin")
    page = client.get("/admin/content").get_data(as_text=True)
    assert "0.0 MB" not in page and " KB</td>" in page


# --- content packs on the admin page -------------------------------------------------------------------

def _upload(client, path, name: str | None = None, **form):
    with open(path, "rb") as handle:
        return post(client, "/admin/content/upload", {"file": (handle, name or path.name), **form},
                    content_type="multipart/form-data")


def test_a_key_added_to_the_settings_file_counts_without_a_restart(client, school, settings, tmp_path):
    from classroom_server.models import ContentPack

    from .packs import build, make_key, pack_source
    key, public = make_key(tmp_path)
    pack = build(pack_source(tmp_path / "src"), tmp_path / "algebra.ckpack", key)
    sign_in_as(client, school, "admin")
    response = _upload(client, pack)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "--unreviewed" not in page
    assert "tick “Accept it even if it is not signed by a trusted reviewer" in page
    settings.ini_path.write_text(f"[content]\ntrusted_keys = {public}\n", encoding="utf-8")
    response = _upload(client, pack)
    assert response.status_code == 200 and ContentPack.get().reviewed


def test_replacing_a_reviewed_pack_with_an_unreviewed_one_asks_first(client, school, settings, tmp_path):
    import re

    from classroom_server.models import ContentPack

    from .packs import build, install_signed, pack_source
    key, _public = install_signed(pack_source(tmp_path / "v1"), settings.data_dir)
    draft = build(pack_source(tmp_path / "v2", version="1.1.0", status="draft"), tmp_path / "v2.ckpack", key)
    sign_in_as(client, school, "admin")
    response = _upload(client, draft, unreviewed="1")
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "Replace a reviewed pack with an unreviewed one?" in page
    assert ContentPack.get().version == "1.0.0" and ContentPack.get().reviewed
    token = re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)
    response = post(client, "/admin/content/replace", {"token": token, "name": "v2.ckpack", "replace": "0"})
    assert response.status_code == 302 and ContentPack.get().version == "1.0.0"
    assert not list((settings.data_dir / "content" / "uploads").glob("*.ckpack"))  # not kept after "no"

    token = re.search(r'name="token" value="([0-9a-f]+)"',
                      _upload(client, draft, unreviewed="1").get_data(as_text=True)).group(1)
    response = post(client, "/admin/content/replace", {"token": token, "name": "v2.ckpack", "replace": "1"})
    assert response.status_code == 200 and "Installed test.algebra 1.1.0" in response.get_data(as_text=True)
    assert ContentPack.get().version == "1.1.0" and not ContentPack.get().reviewed


def test_a_damaged_pack_says_what_to_do(client, school, tmp_path):
    from .packs import build, make_key, pack_source
    key, _public = make_key(tmp_path)
    whole = build(pack_source(tmp_path / "src"), tmp_path / "whole.ckpack", key).read_bytes()
    cut = tmp_path / "cut.ckpack"
    cut.write_bytes(whole[:len(whole) // 2])  # a copy cut short
    sign_in_as(client, school, "admin")
    response = _upload(client, cut, unreviewed="1")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "The file is damaged or incomplete: copy it again" in page


def test_from_a_usb_drive_too_an_unreviewed_pack_replaces_a_reviewed_one_only_after_a_yes(
        app, client, school, settings, tmp_path):
    from classroom_server.models import ContentPack

    from .packs import build, install_signed, pack_source
    key, _public = install_signed(pack_source(tmp_path / "v1"), settings.data_dir)
    drive = tmp_path / "media" / "it" / "USB"
    drive.mkdir(parents=True)
    build(pack_source(tmp_path / "v2", version="1.1.0", status="draft"), drive / "v2.ckpack", key)
    app.config["CLASSROOM_SETTINGS"] = settings.replace(content_usb_roots=(str(tmp_path / "media"),))
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/content/usb", {"drive": str(drive), "unreviewed": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and f'name="drive" value="{drive}"' in page
    assert ContentPack.get().version == "1.0.0"
    response = post(client, "/admin/content/replace", {"drive": str(drive), "replace": "1"})
    assert response.status_code == 200 and ContentPack.get().version == "1.1.0"


def test_the_settings_page_explains_each_setting_and_how_a_change_counts(client, school, settings):
    from classroom_server.settings import OPTIONS
    settings.ini_path.write_text("[sync]\nwarn_after_days = 5\n", encoding="utf-8")
    sign_in_as(client, school, "admin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    page = client.get("/admin/settings").get_data(as_text=True).replace("<wbr>", "")
    assert '<span class="help" lang="en">' not in page
    for option in OPTIONS:
        assert option.description not in page  # shown translated, in Russian
    assert "Часовой пояс школы" in page
    warn = page.split("[sync] warn_after_days")[1].split("</tr>")[0]
    assert "<code>5</code>" in warn and "Restart" not in warn and "Перезапуск" not in warn
    interval = page.split("[sync] interval_seconds")[1].split("</tr>")[0]
    assert "sudo systemctl restart classroom-sync" in interval


# --- enrolment from the admin page ---------------------------------------------------------------------

from .schoolsync import hub  # noqa: E402,F401  (the real hub on loopback, one per module)


def test_the_school_is_enrolled_from_the_sync_page(client, school, settings, hub):
    from classroom_server.models import AuditLog
    enrolment = hub.add_school("Школа №7")
    sign_in_as(client, school, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Enrol it on the Sync page." in page
    form = {"hub": hub.url, "school_id": enrolment.school_id, "secret": enrolment.secret,
            "national_key": hub.fingerprint(), "insecure_http": "1"}

    # A mistyped fingerprint: nothing is saved, the hub's answer is shown, the form keeps what was typed.
    response = post(client, "/admin/sync/enrol", {**form, "national_key": "00" * 32})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "The school was not enrolled:" in page
    assert f'value="{enrolment.school_id}"' in page and enrolment.secret not in page
    assert not SyncState.get_or_none(SyncState.id == 1) or not SyncState.get_by_id(1).school_id

    response = post(client, "/admin/sync/enrol", form)
    assert response.status_code == 303
    assert SyncState.get_by_id(1).school_id == enrolment.school_id
    assert (settings.data_dir / "keys" / "hub-secret").read_text().strip() == enrolment.secret
    assert not list(settings.data_dir.glob(".enrol-secret-*"))  # the secret's copy is gone
    page = client.get("/admin/sync").get_data(as_text=True)
    assert f"School {enrolment.school_id} at {hub.url}" in page and "Enrol again" in page
    assert all(enrolment.secret not in str(row.details) for row in AuditLog.select())


def test_enrolment_asks_for_every_field(client, school):
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/sync/enrol", {"hub": "https://hub.example.kz", "school_id": "sch-1",
                                                  "secret": "", "national_key": ""})
    page = response.get_data(as_text=True).replace("<wbr>", "")
    assert response.status_code == 400 and "fill in: secret, national key" in page


# --- restoring a backup from the admin page ---------------------------------------------------------------

def test_a_backup_is_restored_from_the_admin_page_at_the_next_start(app, client, school, settings):
    import html
    import re

    from classroom_server.admin import backup
    from classroom_server.db import database
    from classroom_server.models import User
    sign_in_as(client, school, "admin")
    assert post(client, "/admin/backups").status_code == 302
    name = backup.list_backups(settings)[0].name
    after = User.create(display_name="Made after the backup", role="student")
    response = post(client, f"/admin/backups/{name}/restore")
    assert response.status_code == 303
    page = html.unescape(client.get("/admin/backups").get_data(as_text=True).replace("<wbr>", ""))
    assert "Restore waiting for a restart" in page and "Restart needed." in page
    assert "sudo systemctl stop classroom-sync && sudo systemctl restart classroom-server" in page
    assert User.get_or_none(User.id == after.id) is not None  # nothing changed yet
    database.close()

    printed = "".join(serve_until_ready(settings.data_dir))
    assert "restored the backup of" in printed
    database.connect(reuse_if_open=True)
    assert User.get_or_none(User.id == after.id) is None and User.get(User.username == "boss")
    assert not backup.pending_restore(settings)
    aside = re.search(r"the data before it is in (\S+)", printed).group(1)
    assert (settings.data_dir / aside.rsplit("/", 1)[1] / "classroom.sqlite3").exists()  # moved aside, kept


def test_a_damaged_backup_is_refused_before_any_restart(client, school, settings):
    from classroom_server.admin import backup
    sign_in_as(client, school, "admin")
    post(client, "/admin/backups")
    stored = backup.list_backups(settings)[0]
    path = backup.backups_folder(settings) / stored.name
    path.write_bytes(path.read_bytes()[:stored.size // 2])
    response = post(client, f"/admin/backups/{stored.name}/restore")
    assert response.status_code == 400 and "That backup cannot be restored" in response.get_data(as_text=True)
    assert backup.pending_restore(settings) is None


def test_a_restore_can_be_called_off(client, school, settings):
    from classroom_server.admin import backup
    sign_in_as(client, school, "admin")
    post(client, "/admin/backups")
    post(client, f"/admin/backups/{backup.list_backups(settings)[0].name}/restore")
    assert backup.pending_restore(settings)
    assert post(client, "/admin/backups/restore/cancel").status_code == 303
    assert backup.pending_restore(settings) is None
    assert "No restore: the server keeps its data." in client.get("/admin/backups").get_data(as_text=True)


def test_the_gradebook_file_is_named_with_the_schools_date(app, client, school, settings):
    """Kiritimati is 14 hours ahead of UTC: for ten hours a day its date is not UTC's."""
    app.config["CLASSROOM_SETTINGS"] = settings.replace(i18n_timezone="Pacific/Kiritimati")
    sign_in_as(client, school, "teacher")
    school_dates = {app.config["CLASSROOM_SETTINGS"].school_now().date().isoformat()}
    response = client.get(f"/coach/class/{school.pin_class.id}/gradebook.csv")
    school_dates.add(app.config["CLASSROOM_SETTINGS"].school_now().date().isoformat())
    disposition = response.headers["Content-Disposition"]
    assert any(f"-{day}.csv" in disposition for day in school_dates), disposition


# --- on PostgreSQL ----------------------------------------------------------------------------------------

from . import pgtesting  # noqa: E402

pg_schema = pgtesting.pg_schema
pg_app = pgtesting.pg_app


@pytest.mark.skipif(not pgtesting.URL, reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_the_heartbeat_and_the_new_admin_actions_on_postgres(pg_app):
    from classroom_server import migrations
    from classroom_server.accounts import services as accounts
    from classroom_server.db import database
    from .helpers import PASSWORD
    migrations.migrate(database.obj)
    now = datetime.datetime(2026, 12, 1, 9, 0)
    assert admin_sync.beat(now) and admin_sync.beat(now + datetime.timedelta(minutes=2))
    assert admin_sync.heartbeat() == now + datetime.timedelta(minutes=2)
    with pg_app.app_context():
        accounts.create_user("boss", "Admin Person", "admin", PASSWORD)
        teacher = accounts.create_user("teacher", "Айгүл", "teacher", PASSWORD)
        room = accounts.create_classroom("5А", 5, "pin")
        accounts.enrol(teacher, room)
        student = accounts.create_user(None, "Әлия", "student")
        accounts.enrol(student, room)
    client = pg_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert sign_in_staff(client, "boss").status_code == 302
    assert "not running since" in client.get("/admin/").get_data(as_text=True)
    assert "The new PIN of" in post(client, f"/admin/users/{student.id}/secret").get_data(as_text=True)
    assert post(client, f"/admin/users/{teacher.id}/active", {"active": "0", "successor": ""}).status_code == 302
    assert "Teacher of 5А" in client.get("/admin/").get_data(as_text=True)
