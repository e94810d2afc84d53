"""Real Chromium on the admin pages: an administrator resets a teacher's password, deactivates them,
changes the sync hours, makes and downloads a backup, and reads the settings, recent events and audit
log; axe-core on every admin page on the way, and none scrolls sideways on a phone."""
from __future__ import annotations

import pytest

from . import browsertesting
from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, expect, sign_in_staff
from .helpers import issued_certificate

# The browser fixtures of tests/browsertesting.py (one Chromium per file; pages that stay on the server).
browser = browsertesting.browser
new_page = browsertesting.new_page

pytestmark = pytest.mark.browser


def test_admin_panels_in_a_browser(new_page, school, settings):
    page = new_page()
    sign_in_staff(page, "boss")
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="This server")).to_be_visible()
    reports = [axe_report(page, "admin overview")]
    menu = page.get_by_role("navigation", name="Administration")

    # A teacher forgot her password: a one-time password, then she leaves the school.
    page.get_by_role("table").get_by_role("link", name="Айгүл Серікқызы").click()
    reports.append(axe_report(page, "person page"))
    page.get_by_role("button", name="Reset the password").click()
    expect(page.get_by_role("heading", name="New password")).to_be_visible()
    password = page.locator("main code").first.inner_text()
    assert len(password) == 14
    reports.append(axe_report(page, "person page with a new password"))
    page.get_by_role("button", name="Deactivate Айгүл Серікқызы").click()
    expect(page.locator("main")).to_contain_text("is deactivated")
    reports.append(axe_report(page, "deactivated person page"))

    # The link is busy by day: sync only at night.
    menu.get_by_role("link", name="Sync").click()
    page.get_by_label("Hours when the sync agent may use the link").fill("18:00-06:00")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("Saved.")
    assert "hours = 18:00-06:00" in settings.ini_path.read_text(encoding="utf-8")
    reports.append(axe_report(page, "sync page"))

    # A backup before the holidays, downloaded to keep on a USB drive.
    menu.get_by_role("link", name="Backups").click()
    reports.append(axe_report(page, "backups page, empty"))
    page.get_by_role("button", name="Make a backup now").click()
    expect(page.locator("main")).to_contain_text("Backup made")
    reports.append(axe_report(page, "backups page"))
    with page.expect_download() as download:
        page.get_by_role("table").get_by_role("link").first.click()
    assert download.value.suggested_filename.startswith("manual-")

    for name, what in (("Settings", "settings page"), ("Recent events", "recent events page"),
                       ("Audit log", "audit log page"), ("Content packs", "content page")):
        menu.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        reports.append(axe_report(page, what))
    expect(page.locator("main")).to_contain_text("Content packs")
    menu.get_by_role("link", name="Audit log").click()
    for text in ("Password reset", "Account deactivated", "Settings changed", "Backup made", "Backup downloaded"):
        expect(page.locator("main table")).to_contain_text(text)

    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found

    phone = new_page(viewport=PHONE)
    sign_in_staff(phone, "boss")
    for path in ("/admin/", f"/admin/users/{school.teacher.id}", "/admin/sync", "/admin/backups", "/admin/settings",
                 "/admin/log", "/admin/audit"):
        phone.goto(path)
        assert_no_horizontal_scroll(phone, f"admin page {path}")


def test_the_secure_address_card_warns_near_the_end_readable_on_a_phone(new_page, school, settings):
    import datetime

    from classroom_server.admin import https

    now = datetime.datetime.now(datetime.timezone.utc)
    https.chain_path(settings.data_dir).parent.mkdir(parents=True, exist_ok=True)
    https.chain_path(settings.data_dir).write_bytes(
        issued_certificate(["sch-7f3k2q.schools.example.kz"], now - datetime.timedelta(days=75), 90))
    page = new_page(viewport=PHONE)
    sign_in_staff(page, "boss")
    page.goto("/admin/")
    card = page.locator("section", has=page.get_by_role("heading", name="Secure address (HTTPS)"))
    expect(card.get_by_role("alert")).to_contain_text("no newer one has arrived")
    expect(card.get_by_role("link", name="https://sch-7f3k2q.schools.example.kz/")).to_be_visible()
    assert_no_horizontal_scroll(page, "admin overview with the HTTPS card")
    found = axe_report(page, "admin overview with the HTTPS card")
    assert not found, "axe-core found accessibility problems:\n" + found


def test_unlocking_a_locked_out_student_on_a_phone(new_page, app, school):
    """A student guessed their PIN wrong too often on a tablet: the administrator, on a phone, sees
    the wrong tries on the person's page and lets them in again."""
    from .helpers import post
    tablet = app.test_client()
    tablet.environ_base["REMOTE_ADDR"] = "10.0.0.31"
    url = f"/signin/class/{school.pin_class.id}/student/{school.student.id}"
    for guess in ("0000", "1111", "2222", "3333", "5555", "6666"):
        post(tablet, url, {"pin": guess})
    page = new_page(viewport=PHONE)
    sign_in_staff(page, "boss")
    page.goto(f"/admin/users/{school.student.id}")
    card = page.locator("section", has=page.get_by_role("heading", name="Wrong sign-ins"))
    expect(card).to_contain_text("5 wrong tries from 10.0.0.31")
    expect(card).to_contain_text("Locked until")
    report = axe_report(page, "person page with wrong sign-ins")
    assert not report, report
    assert_no_horizontal_scroll(page, "person page with wrong sign-ins")
    card.get_by_role("button", name="Unlock sign-in").click()
    expect(page.get_by_role("status")).to_contain_text("can sign in again now")
    expect(card).to_contain_text("No wrong sign-ins in the last day")
    assert post(tablet, url, {"pin": "4321"}).status_code == 302
