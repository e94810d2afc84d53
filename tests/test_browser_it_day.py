"""Real Chromium, the IT person's day (issue 19) on a school name that is neither loopback nor a secure
context (http://school.test:<port>/, mapped to 127.0.0.1 by --host-resolver-rules), in English on a
1366 px laptop and in Russian on a 360 px phone: sync trouble is loud on the admin home with what to
check in order and whether the sync agent runs; a teacher leaves and her classes are handed over or
listed without a teacher and given one; a student gets a new PIN from her page; the deactivated
teacher is told why she cannot sign in; axe-core on each page."""
from __future__ import annotations

import datetime
import re

import pytest

from classroom_server.admin import sync as admin_sync
from classroom_server.models import SyncState, utcnow

from .browserday import LAPTOP
from .browserday import new_page  # noqa: F401  (fixtures)
from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, expect
from .browsertesting import lan_browser  # noqa: F401  (fixtures)
from .helpers import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, username: str) -> None:
    page.goto("/signin")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form", has=page.locator("input[name=username]")).locator("button[type=submit]").click()


@pytest.fixture
def overdue(app, school):
    """Enrolled, the last success 4 days ago, the link down since; the agent has not run."""
    with app.app_context():
        admin_sync.state_row()
        SyncState.update(hub_url="https://hub.example.kz", school_id="sch-7f3k2q",
                         last_success_at=utcnow() - datetime.timedelta(days=4, hours=2), last_attempt_at=utcnow(),
                         last_error_code="link_down",
                         last_error="cannot reach the hub at https://hub.example.kz: Connection refused").execute()


def test_the_it_persons_day_in_english_on_a_laptop(new_page, school, overdue):
    page = new_page("en-US", LAPTOP)
    sign_in(page, "boss")
    page.goto("/admin/")
    reports = []
    warning = page.locator("#sync-overdue")
    expect(warning).to_contain_text("No successful sync for 4 days.")
    steps = warning.locator("ol > li").all_inner_texts()
    assert [s.split(":")[0] for s in steps] == ["The sync agent runs", "The internet link is up",
                                                "The hub address is right", "The enrolment still holds",
                                                "The server's clock is right", "The disk has room"]
    expect(page.locator("#sync-agent")).to_contain_text("not running (never seen)")
    expect(page.locator("#sync-agent")).to_contain_text("sudo systemctl start classroom-sync")
    reports.append(axe_report(page, "admin home with sync overdue"))

    # Айгүл leaves; nobody takes her classes yet.
    page.goto(f"/admin/users/{school.teacher.id}")
    page.get_by_label("Who takes their classes (1Б, 5А)?").select_option(label="Nobody for now: the classes are "
                                                                               "listed without a teacher")
    reports.append(axe_report(page, "teacher's page before deactivating"))
    page.get_by_role("button", name="Deactivate Айгүл Серікқызы").click()
    expect(page.locator("main")).to_contain_text("Their classes have no teacher now")
    page.goto("/admin/")
    orphans = page.locator("section", has=page.get_by_role("heading", name="Classes without a teacher"))
    expect(orphans).to_contain_text("No active teacher teaches these classes")
    reports.append(axe_report(page, "admin home with classes without a teacher"))
    orphans.get_by_label("Teacher of 5А").select_option(label="Ольга Петровна")
    orphans.get_by_role("button", name="Give 5А this teacher").click()
    expect(page.get_by_role("status").first).to_contain_text("Ольга Петровна now teaches 5А.")
    orphans.get_by_label("Teacher of 1Б").select_option(label="Ольга Петровна")
    orphans.get_by_role("button", name="Give 1Б this teacher").click()
    expect(page.get_by_role("heading", name="Classes without a teacher")).to_have_count(0)

    # Әлия forgot her PIN.
    page.goto(f"/admin/users/{school.student.id}")
    page.get_by_role("button", name="Give a new PIN").click()
    expect(page.locator("main")).to_contain_text("The new PIN of Әлия Нұрланқызы for class 5А is:")
    assert re.fullmatch(r"\d{4}", page.locator("main [role=status] code").inner_text())
    reports.append(axe_report(page, "student's page with a new PIN"))

    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_the_it_persons_day_in_russian_on_a_phone(new_page, app, school, overdue):
    from classroom_server.admin.users import set_active
    with app.app_context():
        set_active(school.admin, school.teacher, False)
    page = new_page("ru-RU", PHONE)
    sign_in(page, "teacher")
    expect(page.get_by_role("alert")).to_contain_text("Эта учётная запись отключена")
    reports = [axe_report(page, "sign-in page, account deactivated")]

    sign_in(page, "boss")
    page.goto("/admin/")
    expect(page.locator("#sync-overdue")).to_contain_text("Нет успешной синхронизации 4 дня.")
    expect(page.locator("#sync-agent")).to_contain_text("sudo systemctl start classroom-sync")
    expect(page.get_by_role("heading", name="Классы без учителя")).to_be_visible()
    assert_no_horizontal_scroll(page, "admin home on a phone, in Russian")
    reports.append(axe_report(page, "admin home in Russian"))
    page.goto(f"/admin/users/{school.picture_student.id}")
    page.get_by_role("button", name="Выдать новый код из картинок").click()
    expect(page.locator("main")).to_contain_text("Новый код из картинок ученика Тимур Ахметов")
    assert_no_horizontal_scroll(page, "student's page with a new picture code")
    reports.append(axe_report(page, "student's page with a new picture code, in Russian"))
    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_settings_enrolment_restore_and_a_pack_replacement_in_russian_on_a_phone(new_page, app, school, settings,
                                                                                  tmp_path):
    """The pages this day added, on a phone in Russian: each readable (no sideways scroll), axe-clean."""
    from classroom_server.admin import backup
    from .packs import build, install_signed, pack_source
    with app.app_context():
        key, _public = install_signed(pack_source(tmp_path / "v1"), settings.data_dir)
        backup.backup_into_folder(settings, "manual")
    draft = build(pack_source(tmp_path / "v2", version="1.1.0", status="draft"), tmp_path / "draft.ckpack", key)
    page = new_page("ru-RU", PHONE)
    sign_in(page, "boss")
    reports = []

    page.goto("/admin/settings")
    expect(page.locator("main")).to_contain_text("Часовой пояс школы")
    reports.append(axe_report(page, "settings page"))
    assert_no_horizontal_scroll(page, "settings page")

    page.goto("/admin/sync")
    page.get_by_label("Адрес хаба", exact=True).fill("https://hub.example.kz")
    page.get_by_label("Код школы").fill("sch-7f3k2q")
    page.get_by_label("Секрет", exact=True).fill("not the secret")
    page.get_by_label("Отпечаток национального ключа").fill("0000")
    page.get_by_role("button", name="Зарегистрировать", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Школа не зарегистрирована")).to_be_visible()
    expect(page.get_by_label("Код школы")).to_have_value("sch-7f3k2q")
    reports.append(axe_report(page, "sync page with a refused enrolment"))
    assert_no_horizontal_scroll(page, "sync page")

    page.goto("/admin/backups")
    page.get_by_role("button", name=re.compile(r"^Восстановить manual-")).click()
    expect(page.get_by_role("heading", name="Восстановление ждёт перезапуска")).to_be_visible()
    expect(page.locator("main")).to_contain_text("sudo systemctl restart classroom-server")
    reports.append(axe_report(page, "backups page with a restore waiting"))
    assert_no_horizontal_scroll(page, "backups page with a restore waiting")
    page.get_by_role("button", name="Не восстанавливать").click()
    expect(page.locator("main")).to_contain_text("Восстановления не будет")

    page.goto("/admin/content")
    upload = page.locator("section", has=page.locator("#pack-file"))
    upload.locator("#pack-file").set_input_files(str(draft))
    upload.get_by_role("checkbox").check()
    upload.locator("button[type=submit]").click()
    expect(page.get_by_role("heading", name="Заменить проверенный пакет непроверенным?")).to_be_visible()
    reports.append(axe_report(page, "content page asking before a replacement"))
    assert_no_horizontal_scroll(page, "content page asking before a replacement")
    page.get_by_role("button", name="Оставить проверенный пакет").click()
    expect(page.locator("main")).to_contain_text("Ничего не изменилось")
    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found
