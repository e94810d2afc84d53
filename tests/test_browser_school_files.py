"""Real Chromium: a teacher attaches a picture to a quiz's instructions through the page, the student
sees it drawn; the admin reads the school files' total and sets the quotas. axe-core on each page,
and none scrolls sideways on a phone."""
from __future__ import annotations

import pytest

from classroom_server.coach import services as coach

from . import browsertesting
from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, expect, sign_in_staff, sign_in_student_pin
from .pictures import picture
from .practicepack import SINGLE

browser = browsertesting.browser
new_page = browsertesting.new_page

pytestmark = pytest.mark.browser


def test_a_picture_goes_from_the_teachers_page_to_the_students(new_page, app, school, tmp_path):
    with app.app_context():
        quiz = coach.create_assignment(school.pin_class, school.teacher, "Sky colours", [dict(SINGLE)], kind="quiz")
    (tmp_path / "sky.webp").write_bytes(picture("WEBP", (900, 500), noise=True))
    reports = []

    teacher = new_page(viewport=PHONE)
    sign_in_staff(teacher, "teacher")
    teacher.goto(f"/coach/assignment/{quiz.id}")
    pictures = teacher.locator("section", has=teacher.get_by_role("heading", name="Pictures for the instructions"))
    pictures.get_by_label("Picture (PNG, JPEG or WebP, at most 8 MB)").set_input_files(str(tmp_path / "sky.webp"))
    pictures.get_by_label("What it shows, in a few words").fill("Clouds over the steppe at noon")
    pictures.get_by_role("button", name="Attach the picture").click()
    expect(teacher.locator("main")).to_contain_text("The picture is attached")
    expect(pictures.get_by_role("img", name="Clouds over the steppe at noon")).to_be_visible()
    expect(pictures).to_contain_text("Your school files:")
    reports.append(axe_report(teacher, "teacher's assignment page with a picture"))
    assert_no_horizontal_scroll(teacher, "teacher's assignment page with a picture")

    student = new_page(viewport=PHONE)
    sign_in_student_pin(student, school.pin_class.name, school.student.display_name, "4321")
    student.goto(f"/learn/assignment/{quiz.id}")
    image = student.get_by_role("img", name="Clouds over the steppe at noon")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 900
    reports.append(axe_report(student, "student's quiz page with a picture"))
    assert_no_horizontal_scroll(student, "student's quiz page with a picture")

    admin = new_page()
    sign_in_staff(admin, "boss")
    admin.goto("/admin/")
    expect(admin.locator("main")).to_contain_text("School files")
    admin.goto("/admin/settings")
    files = admin.get_by_role("region", name="School files")
    expect(files).to_contain_text("Pictures teachers attached to assignments: 1.")
    files.get_by_label("Each teacher may keep (MB)").fill("20")
    files.get_by_role("button", name="Save").click()
    expect(admin.locator("main")).to_contain_text("each teacher may keep 20 MB of pictures")
    reports.append(axe_report(admin, "admin settings with school files"))

    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found
