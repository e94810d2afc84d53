"""Real Chromium, a teacher's day in Russian on a 1366 px laptop (issue 19), on a school name that is
neither loopback nor a secure context (http://school.test:<port>/, mapped to 127.0.0.1 by Chromium's
--host-resolver-rules): the mastery heatmap of a full class with the sample packs fits the screen
and an A4 landscape page and gives the student report's figure; a student's activity reads as a
teacher thinks; the admin lets teachers create classes, the teacher creates one, gives a quiz due
"tomorrow", sees its results on its page, gives one student another try, writes to her (she sees it
in Kazakh), copies the quiz within the class and closes it; axe-core on each page."""
from __future__ import annotations

import datetime
import json
import random
import re

import pytest

from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.learn import records, tutor
from classroom_server.models import ExtraTry, TeacherComment
from content_packs.samples import HERE as SAMPLES

from .browserday import new_page, sample_packs  # noqa: F401  (fixtures)
from .browserday import sign_in_student
from .browsertesting import axe_report, expect, lan_browser, practice_pack  # noqa: F401  (fixtures)
from .helpers import PASSWORD
from .practicepack import MIX, PACK

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
#: A4 landscape less the 10 mm margins of mastery.css's @page: 277 mm at 96 CSS px per inch
A4_LANDSCAPE_PX = round(277 / 25.4 * 96)
NAMES = ["Әлия Нұрланқызы", "Айдана Серікбаева", "Ақжол Мұратұлы", "Алексей Смирнов", "Бауыржан Төлегенов",
         "Гүлнар Әбдірахманова", "Дана Жұмабекова", "Екатерина Иванова", "Ерасыл Қайратұлы", "Жансая Оспанова",
         "Зарина Ахметова", "Ілияс Бекболатов", "Қуаныш Сәрсенбаев", "Мадина Нұрпейісова", "Нұрсұлтан Әлиев",
         "Ольга Ким", "Өмірзақ Жақсылықов", "Раушан Мұхамедиярова", "Сұлтан Досмұхамбетов", "Темірлан Ысқақов",
         "Ұлжан Бейсенова", "Фариза Тұрсынова", "Шыңғыс Қалиев", "Юлия Петренко", "Ярослав Ковальчук"]


def sign_in(page, username: str) -> None:
    page.goto("/signin")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form", has=page.locator("input[name=username]")).locator("button[type=submit]").click()
    expect(page.locator("form[action='/signout'] button")).to_be_visible()


@pytest.fixture
def full_class(app, school, sample_packs):
    """25 students of 5А with answers on every skill of the three sample packs."""
    rng = random.Random(19)
    with app.app_context():
        lib = tutor.library()
        students = [school.student] + [accounts.create_user(None, name, "student") for name in NAMES[1:]]
        for student in students[1:]:
            accounts.enrol(student, school.pin_class)
        device = records.new_device_id()
        start = datetime.datetime(2026, 11, 2, 9, 0)
        with database.atomic():
            for s_index, student in enumerate(students):
                for k_index, (skill, candidates) in enumerate(lib.skills.items()):
                    for n in range(3):
                        item = candidates[n % len(candidates)]
                        right = rng.random() < 0.3 + 0.6 * ((s_index + k_index) % 5) / 4
                        records.record(student, device, records.Interaction(
                            verb="answered", pack_id=item.pack_id, node_id=item.node_id, node_kind="exercise",
                            language="ru", item_id=item.item_id, correct=right, score=float(right), attempt=1),
                            occurred_at=start + datetime.timedelta(minutes=s_index * 200 + k_index * 3 + n))
        return students, lib


def table_widths(page) -> dict:
    return page.evaluate("""() => ({
        scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
        main: document.querySelector('main').getBoundingClientRect().right,
        tables: [...document.querySelectorAll('table.heatmap')].map(t => Math.ceil(t.getBoundingClientRect().right)),
    })""")


def test_heatmap_fits_a_laptop_and_a4_landscape_and_agrees_with_the_student_report(new_page, school, full_class):
    students, lib = full_class
    teacher = new_page()
    sign_in(teacher, "teacher")
    teacher.goto(f"/coach/class/{school.pin_class.id}/mastery")
    heatmap = teacher.locator("table.heatmap")
    # 37 skills: one table per pack, a pack with more than 12 skills in two.
    expect(heatmap).to_have_count(4)
    main = teacher.locator("main")
    expect(main).to_contain_text("Освоение — это оценка тренажёра")
    expect(main).to_contain_text("Числитель и знаменатель")  # skills by their titles
    text = main.inner_text()
    tags = [tag for tag in lib.skills if tag in text]
    assert not tags, f"raw skill codes on the page: {tags}"
    widths = screen = table_widths(teacher)
    assert widths["scroll"] <= widths["inner"] == 1366, widths
    assert max(widths["tables"]) <= widths["main"], widths
    report = axe_report(teacher, "mastery heatmap")

    # The same figure on the student's report, said the same way.
    fractions = teacher.locator("table.heatmap", has=teacher.locator("thead th", has_text="Числитель и знаменатель"))
    aliya = fractions.locator("tr", has=teacher.get_by_role("link", name=NAMES[0]))
    headers = fractions.locator("thead th")
    column = next(i for i in range(headers.count()) if headers.nth(i).inner_text().strip() == "Числитель и знаменатель")
    figure = aliya.locator("th, td").nth(column).inner_text().strip()
    assert re.fullmatch(r"\d+%", figure), figure
    aliya.get_by_role("link", name=NAMES[0]).click()
    expect(teacher.locator("main")).to_contain_text("Освоение — это оценка тренажёра")
    row = teacher.locator("tr", has=teacher.locator("th", has_text=re.compile("^Числитель и знаменатель$")))
    expect(row.locator("td").first).to_have_text(figure)
    assert not [tag for tag in lib.skills if tag in teacher.locator("main").inner_text()]
    report += axe_report(teacher, "student report")

    # Printed: A4 landscape (mastery.css's @page), every table inside the printable width.
    teacher.goto(f"/coach/class/{school.pin_class.id}/mastery")
    teacher.emulate_media(media="print")
    teacher.set_viewport_size({"width": A4_LANDSCAPE_PX, "height": 700})
    widths = table_widths(teacher)
    assert widths["scroll"] <= A4_LANDSCAPE_PX and max(widths["tables"]) <= A4_LANDSCAPE_PX, widths
    pdf = teacher.pdf(prefer_css_page_size=True, print_background=True)
    width, height = (float(v) for v in re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf).groups())
    assert (round(width), round(height)) == (842, 595), "not an A4 landscape page"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 1
    print(f"heatmap widths: on screen {screen}, printed {widths}, {pages} A4 pages")
    assert not report, "axe-core found accessibility problems:\n" + report


def test_student_activity_reads_as_a_teacher_thinks(new_page, school, sample_packs):
    student = new_page(locale="kk-KZ", viewport=PHONE)
    sign_in_student(student, "5А", NAMES[0], "4321")
    student.goto("/library/kz.sample.math5-fractions/fractions.ch1")
    for size, step in (("larger", 1), ("larger", 2), ("smaller", 1)):  # each tap loads the page again
        student.locator(f"form.reader-tools button[name=size][value={size}]").click()
        expect(student.locator("article.reader")).to_have_class(re.compile(rf"\bsize-{step}\b"))
    student.goto("/learn/practice/kz.sample.math5-fractions/fractions.ex.basics")
    student.locator("form.question input[type=radio]").first.check()
    with student.expect_navigation():
        student.locator("form.question button[type=submit]").click()

    teacher = new_page()
    sign_in(teacher, "teacher")
    teacher.goto(f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report")
    activity = teacher.locator("table.activity")
    rows = activity.locator("tbody tr")
    expect(rows.first).to_be_visible()
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    opened = [t for t in texts if "Открыто" in t and "Глава 1" in t]
    assert len(opened) == 1, texts  # four page loads, one visit
    answered = next(t for t in texts if "Упражнение: узнаём и сравниваем дроби" in t and "Открыто" not in t)
    assert "Практика" in answered, answered  # practice, not assigned work
    items = json.loads((SAMPLES / "math5-fractions" / "pack.json").read_text())["nodes"][1]["children"][1]["items"]
    assert any(item["prompt"]["ru"] in answered for item in items), answered  # the question, by its text
    assert not any(item["id"] in answered for item in items), answered  # never its code
    assert not axe_report(teacher, "student report")


def test_a_teachers_day(new_page, app, school, practice_pack):
    reports = []
    admin = new_page()
    sign_in(admin, "boss")
    admin.goto("/admin/settings")
    admin.get_by_label("Учителя могут сами создавать классы").check()
    admin.locator("#school-rules-heading + form button[type=submit]").click()
    expect(admin.locator("main")).to_contain_text("теперь учителя могут сами создавать классы")
    reports.append(axe_report(admin, "admin settings"))

    teacher = new_page()
    sign_in(teacher, "teacher")
    teacher.goto("/coach/")
    teacher.get_by_label("Название класса").fill("7Г")
    teacher.get_by_label("Номер класса").fill("7")
    teacher.get_by_role("button", name="Создать класс").click()
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("7Г")
    expect(teacher.locator("main")).to_contain_text("Класс создан: 7Г")
    teacher.goto("/coach/")
    expect(teacher.get_by_role("link", name="7Г")).to_be_visible()
    reports.append(axe_report(teacher, "my classes"))

    # A quiz due tomorrow, with the "Tomorrow" button.
    teacher.goto(f"/coach/class/{school.pin_class.id}/assign?kind=quiz")
    teacher.get_by_label("Название").first.fill("Жылдам тест")
    teacher.locator("details.pick-tree", has=teacher.locator(f"input[value='{PACK}|{MIX}|s1']")).evaluate(
        "d => { d.open = true; }")
    teacher.locator(f"input[value='{PACK}|{MIX}|s1']").check()
    teacher.get_by_role("button", name="Завтра").click()
    due = teacher.get_by_label("Срок (необязательно)").input_value()
    with app.test_request_context():
        from classroom_server.coach.assign import tomorrow_input
        assert due == tomorrow_input() and due.endswith("T23:59")
    teacher.locator("form[method=post] button[type=submit]").last.click()
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("Жылдам тест")
    expect(teacher.locator("main")).to_contain_text("Срок:")
    quiz_url = teacher.url

    # Әлия does it once: her one try is used.
    student = new_page(locale="kk-KZ", viewport=PHONE)
    sign_in_student(student, "5А", NAMES[0], "4321")
    student.get_by_role("link", name="Жылдам тест").click()
    quiz_page = student.url
    student.locator("form[action$='/start'] button").click()
    student.locator("form.question input[type=radio]").first.check()
    student.locator("form.question button[type=submit]").click()
    student.locator("form[action$='/submit'] button").click()  # the last question leads to the hand-in
    student.goto(quiz_page)
    expect(student.locator("form[action$='/start']")).to_have_count(0)

    # Results on the quiz's own page; another try; a comment.
    teacher.goto(quiz_url)
    results = teacher.locator("section", has=teacher.locator("#results-heading"))
    row = results.locator("tr", has=teacher.get_by_role("link", name=NAMES[0]))
    expect(row).to_contain_text("Выполнено")
    expect(row).to_contain_text("1 из 1")
    reports.append(axe_report(teacher, "assignment page with results"))
    row.get_by_role("button", name=f"Ещё одна попытка для: {NAMES[0]}").click()
    expect(teacher.locator("main")).to_contain_text("всего попыток — 2")
    row = teacher.locator("section", has=teacher.locator("#results-heading")).locator(
        "tr", has=teacher.get_by_role("link", name=NAMES[0]))
    expect(row).to_contain_text("1 из 2")
    row.locator("summary").click()
    row.get_by_label("Комментарий (ученик увидит его в этом задании)").fill("Жарайсың! Енді тағы бір рет тапсыр.")
    row.get_by_role("button", name="Отправить").click()
    expect(teacher.locator("main")).to_contain_text("Комментарий для Әлия Нұрланқызы отправлен")
    with app.app_context():
        assert ExtraTry.select().count() == 1 and TeacherComment.select().count() == 1

    student.goto(quiz_page)
    expect(student.locator(".teacher-comment")).to_contain_text("Мұғаліміңнен")
    expect(student.locator(".teacher-comment")).to_contain_text("Жарайсың! Енді тағы бір рет тапсыр.")
    expect(student.locator("form[action$='/start'] button")).to_be_visible()
    reports.append(axe_report(student, "the student's quiz page with the teacher's comment"))

    # A copy within the class, then the original is closed: nothing offered that it no longer allows.
    teacher.goto(quiz_url)
    teacher.get_by_label("Копировать в класс").select_option(label="этот класс (5А)")
    teacher.locator("section", has=teacher.locator("#copy-heading")).get_by_role("button").click()
    expect(teacher.get_by_role("heading", level=1)).to_contain_text("Жылдам тест (копия)")
    teacher.goto(quiz_url)
    teacher.get_by_role("button", name="Закрыть").click()
    expect(teacher.locator("main")).to_contain_text("Закрыт")
    main = teacher.locator("main")
    expect(main.get_by_role("button", name=re.compile("Ещё одна попытка"))).to_have_count(0)
    expect(main.locator("#own-heading")).to_have_count(0)
    expect(main.locator("#attempts")).to_have_count(0)
    expect(main.locator("form[action*='/part/']")).to_have_count(0)
    expect(main).to_contain_text("Тест закрыт")
    widths = teacher.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], widths
    reports.append(axe_report(teacher, "closed quiz page"))

    # The same pages on a teacher's phone: nothing scrolls sideways (wide tables scroll in themselves).
    phone = new_page(viewport=PHONE)
    sign_in(phone, "teacher")
    for path in (quiz_url, "/coach/", f"/coach/class/{school.pin_class.id}/assign",
                 f"/coach/class/{school.pin_class.id}/mastery",
                 f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report"):
        phone.goto(path)
        phone.wait_for_load_state("load")
        widths = phone.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
        wide = phone.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !el.closest('table'))
            .slice(0, 3).map(el => el.outerHTML.slice(0, 120))""")
        assert widths["scroll"] <= widths["inner"], (path, widths, wide)
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found
