"""Real Chromium: a student on a phone opens Practice, answers the tutor's items right and wrong and
sees the mastery bars move; the teacher reads the class heatmap and who needs help; axe-core and a
360 px screen on each new page."""
from __future__ import annotations

import re

import pytest

from .browsertesting import (PHONE, assert_no_horizontal_scroll, axe_report, expect, sign_in_staff, sign_in_student_pin,
                             tab_to)
from .browsertesting import browser, new_page  # noqa: F401  (fixtures)
from .tutorpack import tutor_pack  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def _meter(page, skill: str) -> int:
    return int(page.locator(f"meter[data-skill='{skill}']").first.get_attribute("value"))


def _answer(page, right: bool) -> None:
    """Answer the item on the page: every item's right choice is Alpha."""
    page.get_by_label("Alpha" if right else "Beta").check()
    page.get_by_role("button", name="Check my answer").click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Right!" if right else "Not right yet"))).to_be_visible()


def test_student_practises_and_teacher_reads_mastery(new_page, school, tutor_pack):  # noqa: F811
    student = new_page(viewport=PHONE)
    sign_in_student_pin(student, "5А", "Әлия Нұрланқызы", "4321")
    expect(student).to_have_url(re.compile(r"/learn/$"))
    student.get_by_role("link", name="Practice: questions chosen for me").click()
    expect(student.get_by_role("heading", level=1, name="Practice")).to_be_visible()
    reports = [axe_report(student, "practice page")]
    assert_no_horizontal_scroll(student, "practice page")
    expect(student.get_by_text("fractions.compare: not practised yet")).to_be_visible()
    assert _meter(student, "fractions.compare") == 0

    # Practise one skill by keyboard: Tab to its link, Enter.
    tab_to(student, "el => el.getAttribute('aria-label') === 'Practise fractions.compare'", max_presses=60)
    student.keyboard.press("Enter")
    expect(student.get_by_text("Why this question:")).to_be_visible()
    expect(student.locator(".why")).to_contain_text("fractions.compare not practised yet")
    reports.append(axe_report(student, "practice question"))
    assert_no_horizontal_scroll(student, "practice question")
    _answer(student, True)
    reports.append(axe_report(student, "practice feedback"))
    assert_no_horizontal_scroll(student, "practice feedback")
    first = _meter(student, "fractions.compare")
    expect(student.get_by_text(re.compile(r"fractions\.compare: \d+% mastered"))).to_be_visible()
    for _ in range(2):
        student.get_by_role("link", name="Next").click()
        _answer(student, True)
    higher = _meter(student, "fractions.compare")
    assert higher > first, (first, higher)
    student.get_by_role("link", name="Next").click()
    _answer(student, False)
    # Lower, or the same when the item also needs a skill not mastered yet (the wrong answer is put on that).
    assert _meter(student, "fractions.compare") <= higher

    # Another skill, all wrong: the teacher will see it.
    student.get_by_role("link", name="Back to Practice").click()
    student.get_by_role("link", name="Practise fractions.add").click()
    for index in range(4):
        if index:
            student.get_by_role("link", name="Next").click()
        _answer(student, False)
    student.get_by_role("link", name="Back to Practice").click()
    expect(student.get_by_text(re.compile(r"fractions\.compare: \d+% mastered"))).to_be_visible()
    assert _meter(student, "fractions.add") < 50

    teacher = new_page()
    sign_in_staff(teacher, "teacher")
    teacher.goto(f"/coach/class/{school.pin_class.id}")
    teacher.get_by_role("link", name="Mastery").click()
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("Mastery of skills, class 5А")
    help_list = teacher.locator("ul.needs-help")
    expect(help_list).to_contain_text("Әлия Нұрланқызы")
    expect(help_list).to_contain_text("4 of the last 4 fractions.add items wrong")
    table = teacher.get_by_role("table")
    expect(table.get_by_role("columnheader", name="fractions.add")).to_be_visible()
    expect(table.get_by_role("row", name=re.compile("Әлия Нұрланқызы"))).to_contain_text("%")
    reports.append(axe_report(teacher, "mastery page"))
    teacher.set_viewport_size(PHONE)
    assert_no_horizontal_scroll(teacher, "mastery page on a phone")
    problems = "\n".join(r for r in reports if r)
    assert not problems, problems
