"""The teacher's side: students and groups (one by one and from CSV), assignments and quizzes made
through the pages, changed, closed, copied; bad input refused with nothing half-done."""
from __future__ import annotations

import codecs
import datetime
import io
import json
import re

import pytest

from classroom_server.models import (Assignment, AssignmentItem, AssignmentStudent, GroupMember, Membership,
                                     StudentGroup, User)

from .helpers import post, sign_in_as
from .practicepack import MIX, PACK
from .practicepack import pack  # noqa: F401  (fixtures)


@pytest.fixture
def teacher(client, school, pack):
    sign_in_as(client, school, "teacher")
    return client


def local(days: float) -> str:
    """A datetime-local value `days` from now in the school's time zone (Asia/Almaty, UTC+5)."""
    moment = datetime.datetime.utcnow() + datetime.timedelta(days=days, hours=5)
    return moment.strftime("%Y-%m-%dT%H:%M")


def upload(client, class_id: int, data: bytes, name: str = "students.csv"):
    return post(client, f"/coach/class/{class_id}/students/import", {"file": (io.BytesIO(data), name)},
                content_type="multipart/form-data")


def names(classroom) -> set[str]:
    return {u.display_name for u in User.select().join(Membership).where(Membership.classroom == classroom,
                                                                          Membership.role == "student")}


# --- students and groups ---------------------------------------------------------------------------

def test_add_one_student_and_refuse_a_twin(app, school, teacher):
    response = post(teacher, f"/coach/class/{school.pin_class.id}/students", {"name": "  Нұрлан   Әбенов "})
    assert response.status_code == 303
    response = post(teacher, f"/coach/class/{school.pin_class.id}/students", {"name": "нұрлан әбенов"})
    assert response.status_code == 400 and "already in this class" in response.get_data(as_text=True)
    with app.app_context():
        assert "Нұрлан Әбенов" in names(school.pin_class)
        assert User.select().where(User.display_name.contains("Әбенов")).count() == 1


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp1251", "utf-16"])
def test_csv_import_in_the_encodings_excel_writes(app, school, teacher, encoding):
    text = "Имя;PIN;Группа\r\nАнна Смирнова;1111;Чтение\r\nИван Петров;2222;\r\n\r\nДарья Фёдорова;3333;Чтение\r\n"
    response = upload(teacher, school.pin_class.id, text.encode(encoding))
    assert response.status_code == 303
    with app.app_context():
        assert {"Анна Смирнова", "Иван Петров", "Дарья Фёдорова"} <= names(school.pin_class)
        group = StudentGroup.get(StudentGroup.name == "Чтение")
        assert {m.user.display_name for m in GroupMember.select().where(GroupMember.group == group)} == \
            {"Анна Смирнова", "Дарья Фёдорова"}
        anna = User.get(User.display_name == "Анна Смирнова")
        assert anna.secret_hash  # her PIN was set
    sign_in = teacher.application.test_client()
    sign_in.get("/signin")
    assert "Дарья Фёдорова" in sign_in.get(f"/signin/class/{school.pin_class.id}").get_data(as_text=True)


def test_csv_with_bad_rows_imports_nothing_and_says_why_per_line(app, school, teacher):
    with app.app_context():
        before = names(school.pin_class)
    text = ("name,pin\n"
            "Good Student,1234\n"
            ",1111\n"
            "Bad Pin,12a4\n"
            "Әлия Нұрланқызы,5555\n"  # already in the class
            "Twice,1111\n"
            "Twice,2222\n"
            "Extra,1,2\n")
    response = upload(teacher, school.pin_class.id, text.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was imported" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", page)
    lines = {int(line) for line, _ in rows}
    assert lines == {3, 4, 5, 7, 8}, rows
    assert any("4 digits" in problem for line, problem in rows if line == "4")
    with app.app_context():
        assert names(school.pin_class) == before


def test_csv_from_kazakh_windows_keeps_every_kazakh_letter(app, school, teacher):
    """Excel on a Kazakh Windows saves "CSV" in KZ-1048: Қ Ң Ә Ұ Һ sit where Windows-1251 has
    Serbian letters; the names must arrive whole."""
    text = "Аты;PIN\r\nҚуаныш Әбілқасымұлы;1111\r\nҢ Һ Ө Ғ Ү Ұ І Ә Қ;2222\r\nОльга Иванова;3333\r\n"
    response = upload(teacher, school.pin_class.id, text.replace("Аты", "name").encode("kz1048"))
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        assert {"Қуаныш Әбілқасымұлы", "Ң Һ Ө Ғ Ү Ұ І Ә Қ", "Ольга Иванова"} <= names(school.pin_class)


def test_names_that_lost_letters_are_refused_at_the_top_of_the_page(app, school, teacher):
    """Kazakh names saved as Windows-1251 come out with "?" for Ә Қ Ң...: refused row by row, never
    stored, and the list is the first thing on the page; a PIN Excel cut to 3 digits is named."""
    with app.app_context():
        before = names(school.pin_class)
    lossy = "name;pin\r\nНұрлан Әбенов;1111\r\nОльга Иванова;0123\r\nАйгүл Қасым;2222\r\n".encode(
        "cp1251", errors="replace")
    lossy = lossy.replace(b"0123", b"123")  # what Excel does to a number column
    response = upload(teacher, school.pin_class.id, lossy)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    rows = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", page))
    assert set(rows) == {"2", "3", "4"}, rows
    assert "where a letter was" in rows["2"] and "CSV UTF-8" in rows["2"] and "CSV UTF-8" in rows["4"]
    assert "leading zeros" in rows["3"]
    assert page.index('id="import-result"') < page.index('id="work-heading"')
    with app.app_context():
        assert names(school.pin_class) == before
        assert not User.select().where(User.display_name.contains("?")).exists()


@pytest.mark.parametrize("mode", ["pin", "picture"])
def test_a_student_added_one_by_one_gets_a_code_to_sign_in_with_at_once(app, school, teacher, mode):
    from classroom_server.accounts.services import PICTURES
    room = school.pin_class if mode == "pin" else school.picture_class
    response = post(teacher, f"/coach/class/{room.id}/students", {"name": "Жаңа Оқушы"})
    assert response.status_code == 303
    notice = teacher.get(f"/coach/class/{room.id}").get_data(as_text=True)
    with app.app_context():
        student = User.get(User.display_name == "Жаңа Оқушы")
        assert student.secret_hash
    child = teacher.application.test_client()
    child.get("/signin")
    url = f"/signin/class/{room.id}/student/{student.id}"
    if mode == "pin":
        pin = re.search(r"PIN: (\d{4})\.", notice).group(1)
        assert post(child, url, {"pin": pin}).status_code == 302
    else:
        keys = {symbol: key for key, symbol in PICTURES}
        shown = re.search(r"Picture code: ([^.]+)\.", notice).group(1).split()
        assert len(shown) == 3
        form = {f"picture{i}": keys[symbol] for i, symbol in enumerate(shown)}
        assert post(child, url, form).status_code == 302


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    ("Фамилия,Имя\nA,B\n".encode(), "unknown column"),
    (b"pin\n1234\n", "column called name"),
    (b"name\n\x98\xff\n", "not text in UTF-8, UTF-16 or Windows-1251"),
])
def test_csv_with_wrong_columns_or_encoding_is_refused(app, school, teacher, data, message):
    response = upload(teacher, school.pin_class.id, data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_groups_made_filled_and_removed(app, school, teacher):
    class_id = school.pin_class.id
    assert post(teacher, f"/coach/class/{class_id}/groups", {"name": "Қайталау"}).status_code == 303
    assert post(teacher, f"/coach/class/{class_id}/groups", {"name": "Қайталау"}).status_code == 400
    with app.app_context():
        group = StudentGroup.get()
    post(teacher, f"/coach/class/{class_id}/group/{group.id}/members", {"student": [str(school.student.id)]})
    with app.app_context():
        assert [m.user_id for m in GroupMember.select()] == [school.student.id]
    response = post(teacher, f"/coach/class/{class_id}/group/{group.id}/members",
                    {"student": [str(school.other_student.id)]})
    assert response.status_code == 400  # not a student of this class
    with app.app_context():
        assert [m.user_id for m in GroupMember.select()] == [school.student.id]
    post(teacher, f"/coach/class/{class_id}/group/{group.id}/delete")
    with app.app_context():
        assert StudentGroup.select().count() == 0 and GroupMember.select().count() == 0
        assert school.student.id in {u.id for u in User.select().join(Membership).where(
            Membership.classroom == school.pin_class)}


# --- assignments -----------------------------------------------------------------------------------

def test_assign_lesson_and_exercise_to_a_group_through_the_form(app, school, teacher):
    class_id = school.pin_class.id
    page = teacher.get(f"/coach/class/{class_id}/assign").get_data(as_text=True)
    assert f'value="{PACK}|intro"' in page and f'value="{PACK}|{MIX}"' in page
    post(teacher, f"/coach/class/{class_id}/groups", {"name": "Group A"})
    with app.app_context():
        group = StudentGroup.get()
    post(teacher, f"/coach/class/{class_id}/group/{group.id}/members", {"student": [str(school.student.id)]})
    response = post(teacher, f"/coach/class/{class_id}/assign", {
        "kind": "work", "title": "Read and practise", "part": [f"{PACK}|intro", f"{PACK}|{MIX}"],
        "to": "groups", "group": [str(group.id)], "due_at": local(2)})
    assert response.status_code == 303
    with app.app_context():
        work = Assignment.get()
        assert work.title == "Read and practise" and work.classroom_id == class_id and work.kind == "work"
        assert [(p.node_id, p.item_id) for p in AssignmentItem.select().order_by(AssignmentItem.position)] == \
            [("intro", None), (MIX, None)]
        assert [s.user_id for s in AssignmentStudent.select()] == [school.student.id]
        assert abs((work.due_at - datetime.datetime.utcnow()).total_seconds() - 2 * 86400) < 120
    page = teacher.get(f"/coach/assignment/{work.id}").get_data(as_text=True)
    assert "Intro" in page and "All six kinds" in page and "Әлия Нұрланқызы" in page


def test_search_narrows_the_picker(app, school, teacher):
    page = teacher.get(f"/coach/class/{school.pin_class.id}/assign?q=six").get_data(as_text=True)
    assert f'value="{PACK}|{MIX}"' in page and f'value="{PACK}|intro"' not in page


def test_quiz_from_picked_drawn_and_own_questions(app, school, teacher):
    class_id = school.pin_class.id
    page = teacher.get(f"/coach/class/{class_id}/assign?kind=quiz").get_data(as_text=True)
    assert f'value="{PACK}|{MIX}|s1"' in page and '<option value="x"' in page
    response = post(teacher, f"/coach/class/{class_id}/assign", {
        "kind": "quiz", "title": "Friday quiz", "part": [f"{PACK}|{MIX}|s1"], "draw_skill": "x", "draw_count": "2",
        "type": "single", "language": "kk", "prompt": "2 + 2 = ?", "lines": "3\n*4\n5", "time_limit": "15",
        "attempts": "2", "results": "teacher", "to": "class"})
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        quiz = Assignment.get()
        assert (quiz.kind, quiz.time_limit_minutes, quiz.attempts, quiz.results) == ("quiz", 15, 2, "teacher")
        rows = list(AssignmentItem.select().order_by(AssignmentItem.position))
        assert rows[0].item_id == "s1" and len(rows) in (3, 4)  # s1 may also be drawn
        own = json.loads(rows[-1].item_data)
        assert own["prompt"] == {"kk": "2 + 2 = ?"} and own["answer"] == "c2"
    post(teacher, f"/coach/assignment/{quiz.id}/own", {"type": "matching", "language": "ru", "prompt": "Пары",
                                                       "lines": "1 = один\n2 = два"})
    post(teacher, f"/coach/assignment/{quiz.id}/own", {"type": "numeric", "language": "en", "prompt": "Half?",
                                                       "answer": "0,5"})
    response = post(teacher, f"/coach/assignment/{quiz.id}/own", {"type": "single", "prompt": "No right one",
                                                                  "lines": "a\nb"})
    assert response.status_code == 400 and "exactly one right choice" in response.get_data(as_text=True)
    with app.app_context():
        kinds = [json.loads(r.item_data)["type"] for r in AssignmentItem.select().where(
            AssignmentItem.item_data.is_null(False)).order_by(AssignmentItem.position)]
        assert kinds == ["single", "matching", "numeric"]


@pytest.mark.parametrize("fields, message", [
    ({"part": []}, "at least one"),
    ({"due_at": local(-1)}, "in the past"),
    ({"starts_at": local(3), "due_at": local(2)}, "before the start"),
    ({"due_at": "next friday"}, "YYYY-MM-DD"),
    ({"part": ["nope|gone"]}, "not in the library"),
    ({"title": ""}, "title"),
    ({"to": "students"}, "tick the students"),
])
def test_bad_assignments_are_refused_and_nothing_is_stored(app, school, teacher, fields, message):
    form = {"kind": "work", "title": "Homework", "part": [f"{PACK}|intro"], "to": "class", **fields}
    response = post(teacher, f"/coach/class/{school.pin_class.id}/assign", form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    with app.app_context():
        assert Assignment.select().count() == 0 and AssignmentItem.select().count() == 0


def test_empty_quiz_and_bad_rules_are_refused(app, school, teacher):
    for fields, message in (({}, "at least one"), ({"part": [f"{PACK}|{MIX}|s1"], "attempts": "0"}, "from 1 to 20"),
                            ({"part": [f"{PACK}|{MIX}|s1"], "time_limit": "0"}, "1 to 600"),
                            ({"draw_skill": "x", "draw_count": "99"}, "from 1 to 50"),
                            ({"draw_skill": "nope", "draw_count": "2"}, "only 0 questions")):
        response = post(teacher, f"/coach/class/{school.pin_class.id}/assign",
                        {"kind": "quiz", "title": "Quiz", "to": "class", **fields})
        assert response.status_code == 400 and message in response.get_data(as_text=True), fields
    with app.app_context():
        assert Assignment.select().count() == 0


def test_another_teachers_class_cannot_be_given_work_or_copied_into(app, school, teacher):
    other = school.other_class.id
    assert teacher.get(f"/coach/class/{other}/assign").status_code == 403
    response = post(teacher, f"/coach/class/{other}/assign",
                    {"kind": "work", "title": "x", "part": [f"{PACK}|intro"], "to": "class"})
    assert response.status_code == 403
    post(teacher, f"/coach/class/{school.pin_class.id}/assign",
         {"kind": "work", "title": "Mine", "part": [f"{PACK}|intro"], "to": "class"})
    with app.app_context():
        mine = Assignment.get()
    assert post(teacher, f"/coach/assignment/{mine.id}/copy", {"class_id": str(other)}).status_code == 403
    with app.app_context():
        assert Assignment.select().count() == 1


def test_reorder_edit_close_reopen_release_copy(app, school, teacher):
    class_id = school.pin_class.id
    post(teacher, f"/coach/class/{class_id}/assign", {
        "kind": "quiz", "title": "Quiz", "part": [f"{PACK}|{MIX}|s1", f"{PACK}|{MIX}|m1", f"{PACK}|{MIX}|n1"],
        "results": "teacher", "to": "class"})
    with app.app_context():
        quiz = Assignment.get()
        first, second, third = AssignmentItem.select().order_by(AssignmentItem.position)
    post(teacher, f"/coach/assignment/{quiz.id}/part/{third.id}/up")
    post(teacher, f"/coach/assignment/{quiz.id}/part/{first.id}/remove")
    with app.app_context():
        assert [p.item_id for p in AssignmentItem.select().order_by(AssignmentItem.position)] == ["n1", "m1"]
    response = post(teacher, f"/coach/assignment/{quiz.id}/edit", {"title": "Quiz 2", "due_at": local(1),
                                                                    "attempts": "3", "results": "due"})
    assert response.status_code == 303
    for action in ("close", "reopen", "release"):
        assert post(teacher, f"/coach/assignment/{quiz.id}/{action}").status_code == 303
    with app.app_context():
        quiz = Assignment.get_by_id(quiz.id)
        assert (quiz.title, quiz.attempts, quiz.results, quiz.closed_at) == ("Quiz 2", 3, "due", None)
        assert quiz.released_at is not None
    response = post(teacher, f"/coach/assignment/{quiz.id}/copy", {"class_id": str(school.picture_class.id)})
    assert response.status_code == 303
    with app.app_context():
        copy = Assignment.get(Assignment.classroom == school.picture_class.id)
        assert [p.item_id for p in AssignmentItem.select().where(AssignmentItem.assignment == copy.id)
                .order_by(AssignmentItem.position)] == ["n1", "m1"]
        assert copy.id != quiz.id and copy.attempts == 3


def test_class_page_lists_work_students_and_groups(app, school, teacher):
    post(teacher, f"/coach/class/{school.pin_class.id}/assign",
         {"kind": "work", "title": "Week 1", "part": [f"{PACK}|intro"], "to": "class"})
    page = teacher.get(f"/coach/class/{school.pin_class.id}").get_data(as_text=True)
    assert "Week 1" in page and "New quiz" in page and "Import" in page and "New group" in page
    assert codecs.BOM_UTF8  # (the gradebook export is checked in test_reports)
