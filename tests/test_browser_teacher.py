"""Real Chromium: a teacher makes a group, assigns a lesson and a quiz to it, a student of the group
does both, the teacher reads the reports and downloads the gradebook CSV; axe-core on each coach
page met on the way."""
from __future__ import annotations

import csv
import io
import re

import pytest

from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, expect, sign_in_staff, sign_in_student_pin
from .browsertesting import browser, new_page, practice_pack  # noqa: F401  (fixtures)
from .practicepack import MIX, PACK

pytestmark = pytest.mark.browser


def test_teacher_assigns_to_a_group_student_works_teacher_reads_reports_and_csv(new_page, school, practice_pack):
    teacher = new_page()
    sign_in_staff(teacher, "teacher")
    reports = [axe_report(teacher, "coach home")]
    teacher.get_by_role("link", name="5А").first.click()
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("5А")
    reports.append(axe_report(teacher, "class page"))

    # A group with Әлия in it.
    teacher.get_by_label("New group").fill("Оқу тобы")
    teacher.get_by_role("button", name="Make the group").click()
    group = teacher.locator("details", has=teacher.locator("summary", has_text="Оқу тобы"))
    group.locator("summary").click()
    group.get_by_label("Әлия Нұрланқызы").check()
    teacher.get_by_role("button", name="Save the group").click()
    expect(teacher.locator("main")).to_contain_text("Group Оқу тобы saved.")

    # A lesson for the group.
    teacher.get_by_role("link", name="New assignment").click()
    reports.append(axe_report(teacher, "new assignment page"))
    teacher.get_by_label("Title").fill("Кіріспе сабақ")
    teacher.locator("details.pick-tree", has_text="Practice pack").evaluate("d => { d.open = true; }")
    teacher.get_by_role("checkbox", name=re.compile(r"Intro")).check()
    teacher.get_by_label("Groups:").check()
    teacher.get_by_role("checkbox", name=re.compile(r"Оқу тобы")).check()
    teacher.get_by_role("button", name="Assign").click()
    expect(teacher.locator("main")).to_contain_text("Assigned: Кіріспе сабақ.")
    reports.append(axe_report(teacher, "assignment page"))

    # A quiz of two pack questions for the group.
    teacher.goto(f"/coach/class/{school.pin_class.id}/assign?kind=quiz")
    reports.append(axe_report(teacher, "new quiz page"))
    teacher.get_by_label("Title").fill("Жылдам тест")
    teacher.locator("details.pick-tree", has_text="Practice pack").evaluate("d => { d.open = true; }")
    teacher.locator(f"input[value='{PACK}|{MIX}|s1']").check()
    teacher.locator(f"input[value='{PACK}|{MIX}|n1']").check()
    teacher.get_by_label("Time limit in minutes (empty: no limit)").fill("10")
    teacher.get_by_label("Groups:").check()
    teacher.get_by_role("checkbox", name=re.compile(r"Оқу тобы")).check()
    teacher.get_by_role("button", name="Give the quiz").click()
    expect(teacher.locator("main")).to_contain_text("Assigned: Жылдам тест.")

    # The student of the group does both.
    student = new_page(viewport=PHONE)
    sign_in_student_pin(student, "5А", "Әлия Нұрланқызы", "4321")
    expect(student).to_have_url(re.compile(r"/learn/$"))
    student.get_by_role("link", name="Кіріспе сабақ").click()
    student.get_by_role("link", name="Intro").click()
    expect(student.frame_locator("iframe.lesson").locator("p")).to_contain_text("Hi")
    student.goto("/learn/")
    student.get_by_role("link", name="Жылдам тест").click()
    student.get_by_role("button", name="Start the quiz").click()
    student.get_by_label("Blue").check()  # right
    student.get_by_role("button", name="Save and go on").click()
    student.get_by_label("Half as a decimal?").fill("0,7")  # wrong
    student.get_by_role("button", name="Save and go on").click()
    student.get_by_role("button", name="Hand in my answers").click()
    expect(student.locator("main")).to_contain_text("Try 1: 1 of 2 right")

    # The teacher reads the class report and downloads the gradebook.
    teacher.goto(f"/coach/class/{school.pin_class.id}")
    teacher.get_by_role("link", name=re.compile("report", re.I)).first.click()
    main = teacher.locator("main")
    expect(main).to_contain_text("Жылдам тест")
    expect(main).to_contain_text("Әлия Нұрланқызы")
    assert teacher.locator("main svg[role=img]").count() >= 1
    reports.append(axe_report(teacher, "class report"))
    teacher.goto(f"/coach/class/{school.pin_class.id}/items")
    expect(teacher.locator("main")).to_contain_text("0,7")  # the wrong answer, as she typed it
    reports.append(axe_report(teacher, "item analysis"))
    for path, what in ((f"/coach/class/{school.pin_class.id}/engagement", "engagement report"),
                       (f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report", "student report"),
                       (f"/coach/class/{school.pin_class.id}/report/print", "printable class report")):
        teacher.goto(path)
        expect(teacher.locator("main")).to_contain_text("Әлия")
        reports.append(axe_report(teacher, what))
    with teacher.expect_download() as download:
        teacher.evaluate(f"window.location.href = '/coach/class/{school.pin_class.id}/gradebook.csv'")
    raw = open(download.value.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM to read Kazakh and Russian names"
    text = raw.decode("utf-8-sig")
    first = text.split("\r\n", 1)[0]
    rows = list(csv.reader(io.StringIO(text), delimiter=max(",;", key=first.count)))
    header, body = rows[0], rows[1:]
    assert any("Жылдам тест" in title for title in header) and any("Кіріспе сабақ" in title for title in header)
    by_name = {row[0]: row for row in body}
    assert "Әлия Нұрланқызы" in by_name
    aliya = dict(zip(header, by_name["Әлия Нұрланқызы"]))
    quiz_cell = next(value for title, value in aliya.items() if "Жылдам тест" in title)
    assert quiz_cell.replace(",", ".").rstrip("%").strip() in ("50", "50.0", "0.5", "1/2"), aliya
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_coach_pages_fit_a_phone(new_page, school, practice_pack):
    page = new_page(viewport=PHONE)
    sign_in_staff(page, "teacher")
    for path in (f"/coach/class/{school.pin_class.id}", f"/coach/class/{school.pin_class.id}/assign",
                 f"/coach/class/{school.pin_class.id}/assign?kind=quiz", f"/coach/class/{school.pin_class.id}/report",
                 f"/coach/class/{school.pin_class.id}/items", f"/coach/class/{school.pin_class.id}/engagement",
                 f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report"):
        page.goto(path)
        assert_no_horizontal_scroll(page, path)
