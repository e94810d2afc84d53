"""Real Chromium on http://school.test and a school server whose disk fills up (its data folder on a
small tmpfs): an answer the server cannot store stays on the device, the banner says why, and it is
stored exactly once when there is room again."""
from __future__ import annotations

import re

import pytest

from classroom_server.models import LearningRecord
from classroom_server.settings import load_settings

from .browsertesting import STUDENT, expect, fill, queued_answers, sign_in_student_pin, wait_until_sent
from .browsertesting import homework, lan_browser, practice_pack, school_page  # noqa: F401  (fixtures)
from .helpers import checkpoint, fill_disk, shrink, tmpfs
from .practicepack import ITEMS, right_and_wrong

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path):
    yield from tmpfs(tmp_path / "small-disk", "300m")


@pytest.fixture
def settings(small_disk):
    """The school's data folder on the small disk (overrides conftest's)."""
    return load_settings(small_disk / "data", environ={})


def test_an_answer_refused_by_a_full_disk_stays_on_the_device_until_there_is_room(
        school_page, school, homework, settings, small_disk):
    page = school_page
    sign_in_student_pin(page, *STUDENT)
    expect(page).to_have_url(re.compile(r"/learn/$"))
    page.get_by_role("link", name="Six questions").click()
    page.get_by_role("link", name="All six kinds").click()
    expect(page.locator(".progress-text")).to_contain_text("Question 1 of")

    shrink(small_disk)
    checkpoint(settings.data_dir / "classroom.sqlite3")
    filler = fill_disk(small_disk / "filler")
    fill(page, ITEMS[0], right_and_wrong(ITEMS[0])[0])
    page.get_by_role("button", name="Check my answer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The school server's disk is full")
    banner = page.locator("main > [role=status].offline-banner")
    expect(banner).to_contain_text("The school server's disk is full, so it cannot store answers now. "
                                   "Answers kept on this device: 1.")
    [kept] = queued_answers(page)
    assert LearningRecord.select().where(LearningRecord.verb == "answered").count() == 0

    # A later try while the disk is still full changes nothing: the answer stays.
    page.evaluate("window.classroomUpload()")
    expect(banner).to_contain_text("Answers kept on this device: 1.")
    assert [entry["record_id"] for entry in queued_answers(page)] == [kept["record_id"]]

    filler.unlink()
    page.evaluate("window.classroomUpload()")
    wait_until_sent(page)
    expect(banner).to_be_hidden()
    rows = list(LearningRecord.select().where(LearningRecord.verb == "answered"))
    assert [(r.uuid, r.correct) for r in rows] == [(kept["record_id"], True)]
