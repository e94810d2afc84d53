"""A student's bookmarks, highlights and notes in e-textbooks (content/notes.py): kept durably, found
again after a pack update, and never seen by anybody else: not another student, not a teacher, not an
admin, not the hub."""
from __future__ import annotations

import gzip
import os
import re
import sqlite3
import uuid
from contextlib import contextmanager

import pytest

from classroom_server.content import notes
from classroom_server.models import DeletedNote, ReaderNote

from .geobook import CHAPTER_ONE, install
from .helpers import csrf_of, post, serve_in_thread, serving, sign_in_as
from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)

SECRET = "my secret thought about salt"


@pytest.fixture
def book(app, settings, tmp_path):
    install(app, settings, tmp_path)


def add(client, book_id: str = "geo", **fields):
    return client.post(f"/library/local.geo/{book_id}/notes", json=fields,
                       headers={"X-CSRF-Token": csrf_of(client)})


def test_a_student_highlights_notes_and_bookmarks_and_sees_them_in_place(client, school, book):
    sign_in_as(client, school, "student")
    highlight = add(client, chapter="geo.ch01", kind="highlight", exact="Fresh water is rare.",
                    prefix="among the lakes of the world.", suffix="")
    assert highlight.status_code == 201, highlight.get_json()
    found = highlight.get_json()
    assert found["exact"] == "Fresh water is rare." and found["prefix"].endswith("lakes of the world.")
    # "fresh water" twice in the chapter: the one chosen is the one whose context was sent
    note = add(client, chapter="geo.ch01", kind="note", exact="fresh water", prefix="Half of the lake is ",
               suffix=" and half", text=SECRET)
    assert note.status_code == 201 and note.get_json()["prefix"].endswith("Half of the lake is ")
    # a plain form without JavaScript: a bookmark of the chapter, back to the chapter at it
    response = post(client, "/library/local.geo/geo/notes", {"chapter": "geo.ch02", "kind": "bookmark"})
    assert response.status_code == 303 and re.search(r"/library/local.geo/geo.ch02#note-[\w-]+$",
                                                     response.headers["Location"])
    page = client.get("/library/local.geo/geo.ch01").get_data(as_text=True)
    assert f'data-exact="Fresh water is rare."' in page and SECRET in page
    assert 'class="note-tools"' in page and "/library/local.geo/geo/notes" in page
    mine = client.get("/library/local.geo/geo/notes")
    assert mine.status_code == 200
    text = mine.get_data(as_text=True)
    assert SECRET in text and text.count('class="note note-') == 3
    assert text.index("Lakes") < text.index("Mountains")  # grouped by chapter, in the book's order
    assert f'/library/local.geo/geo.ch01?lang=en#note-{found["id"]}' in text
    listed = client.get("/library/local.geo/geo/notes?format=json").get_json()["notes"]
    assert sorted(n["kind"] for n in listed) == ["bookmark", "highlight", "note"]
    assert "My notes in this book (3)" in client.get("/library/local.geo/geo").get_data(as_text=True)
    # a form that cannot be kept says why and gives back what the student wrote
    refused = post(client, "/library/local.geo/geo/notes", {"chapter": "geo.ch01", "kind": "note",
                                                            "exact": "no such words", "text": "my long thought"})
    assert refused.status_code == 400
    assert "select them again" in refused.get_data(as_text=True) and "my long thought" in refused.get_data(as_text=True)
    # change the words with the page's form, then by JSON, then delete
    edited = post(client, f"/library/local.geo/geo/notes/{note.get_json()['id']}",
                  {"text": "salt!!", "next": "/library/local.geo/geo/notes"})
    assert edited.status_code == 303 and edited.headers["Location"] == "/library/local.geo/geo/notes"
    assert "salt!!" in client.get("/library/local.geo/geo/notes").get_data(as_text=True)
    changed = client.post(f"/library/local.geo/geo/notes/{note.get_json()['id']}", json={"text": "salt!"},
                          headers={"X-CSRF-Token": csrf_of(client)})
    assert changed.status_code == 200 and changed.get_json()["text"] == "salt!"
    gone = client.post(f"/library/local.geo/geo/notes/{found['id']}", json={"delete": True},
                       headers={"X-CSRF-Token": csrf_of(client)})
    assert gone.status_code == 204
    assert len(client.get("/library/local.geo/geo/notes?format=json").get_json()["notes"]) == 2


def test_notes_on_the_pages_of_a_pdf_textbook(client, school, book):
    sign_in_as(client, school, "student")
    response = add(client, "lakes", kind="highlight", page=2, exact="Lakes on page 2")
    assert response.status_code == 201 and response.get_json()["page"] == 2
    assert add(client, "lakes", kind="highlight", page=3, exact="Lakes on page 2").status_code == 400
    assert add(client, "lakes", kind="bookmark", page=99).status_code == 400
    page = client.get("/library/local.geo/lakes").get_data(as_text=True)
    assert 'data-page="2"' in page and 'name="page"' in page
    listed = client.get("/library/local.geo/lakes/notes?format=json").get_json()["notes"]
    assert listed[0]["url"].endswith(f"/library/local.geo/lakes?lang=en#note-{listed[0]['id']}")


@pytest.mark.parametrize("fields, message", [
    ({"kind": "highlight", "exact": "not in this chapter at all"}, "not in this chapter"),
    ({"kind": "highlight"}, "select the words"),
    ({"kind": "note", "exact": "Fresh water is rare."}, "write something"),
    ({"kind": "scribble", "exact": "Fresh water is rare."}, "bookmark, a highlight or a note"),
    ({"kind": "note", "text": "x" * 2001}, "at most 2000"),
    ({"kind": "highlight", "exact": "x" * 1001}, "at most 1000"),
    ({"kind": "bookmark", "chapter": "lakes"}, "not in the book"),
    ({"kind": "bookmark", "chapter": "nowhere"}, "not in the book"),
])
def test_a_note_that_cannot_be_kept_says_what_to_change(client, school, book, fields, message):
    sign_in_as(client, school, "student")
    response = add(client, **{"chapter": "geo.ch01", **fields})
    assert response.status_code == 400 and message in response.get_json()["message"]
    assert ReaderNote.select().count() == 0


def test_a_note_sent_to_a_book_no_longer_in_the_library_says_so(client, school, book):
    """A kept note may arrive after its book was taken out: the phone shows the student why (static/app.js)."""
    sign_in_as(client, school, "student")
    gone = add(client, book_id="removed", chapter="removed.ch01", kind="bookmark", client_id=KEPT_ID)
    assert (gone.status_code, gone.get_json()["message"]) == (404, "This book is no longer in the school's library.")


@pytest.mark.parametrize("role", ["other student", "teacher", "admin", None])
def test_nobody_else_sees_or_changes_a_students_notes(app, client, school, book, role):
    sign_in_as(client, school, "student")
    note = add(client, chapter="geo.ch01", kind="note", exact="Fresh water is rare.", text=SECRET).get_json()
    client.get("/signout")
    other = app.test_client()
    if role == "other student":
        post(other, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    else:
        sign_in_as(other, school, role)
    mine = f"/library/local.geo/geo/notes/{note['id']}"
    expected = {"other student": 404, "teacher": 403, "admin": 403, None: 302}[role]
    for response in (other.post(mine, json={"delete": True}, headers={"X-CSRF-Token": csrf_of(other)}),
                     other.post(mine, json={"text": "changed"}, headers={"X-CSRF-Token": csrf_of(other)})):
        assert response.status_code == expected
    listing = {"other student": 200, "teacher": 403, "admin": 403, None: 302}[role]
    for url in ("/library/local.geo/geo/notes", "/library/local.geo/geo/notes?format=json"):
        response = other.get(url)
        assert response.status_code == listing and SECRET not in response.get_data(as_text=True)
    if role is not None:  # the reader's pages, and every page the role has, never show it
        assert SECRET not in other.get("/library/local.geo/geo.ch01").get_data(as_text=True)
        for url in ("/coach/", "/admin/", "/api/v1/me", "/library/search?q=secret"):
            assert SECRET not in other.get(url).get_data(as_text=True)
    if role in ("teacher", "admin"):
        assert add(other, chapter="geo.ch01", kind="bookmark").status_code == 403
    with app.app_context():
        assert ReaderNote.get_by_id(note["id"]).text == SECRET


def test_a_teachers_exports_and_the_hubs_statements_never_carry_notes(app, client, school, book):
    from sync.agent.records import prepare_batch
    sign_in_as(client, school, "student")
    client.get("/library/local.geo/geo.ch01")  # an 'opened' learning record, which does go to the hub
    assert add(client, chapter="geo.ch01", kind="note", exact="Fresh water is rare.", text=SECRET).status_code == 201
    with app.app_context():
        batch = prepare_batch(0, 1000, "school-1", "https://hub.example")
    body = gzip.decompress(batch.body).decode("utf-8")
    assert batch.count >= 1 and "geo.ch01" in body
    assert SECRET not in body and "Fresh water is rare" not in body
    teacher = app.test_client()
    sign_in_as(teacher, school, "teacher")
    room = f"/coach/class/{school.pin_class.id}"
    for url in ("/coach/", room, f"{room}/gradebook.csv", f"{room}/records.json", f"{room}/report",
                f"{room}/engagement", f"{room}/student/{school.student.id}/report"):
        response = teacher.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.get_data(as_text=True) and "Fresh water" not in response.get_data(as_text=True)
    assert "geo.ch01" in teacher.get(f"{room}/records.json").get_data(as_text=True)  # the record is there


def test_an_acknowledged_note_is_on_disk_before_the_answer(client, school, book, settings):
    """synchronous=FULL and one committed transaction before 201: another connection (as after a
    power cut, the database file alone) holds the note."""
    sign_in_as(client, school, "student")
    response = add(client, chapter="geo.ch01", kind="note", exact="Fresh water is rare.", text=SECRET)
    assert response.status_code == 201
    url = settings.effective_database_url
    if not url.startswith("sqlite:///"):
        pytest.skip("the power-cut check reads the SQLite file")
    with sqlite3.connect(url[len("sqlite:///"):]) as other:
        row = other.execute("SELECT text, exact FROM reader_note WHERE id = ?", (response.get_json()["id"],)).fetchone()
    assert row == (SECRET, "Fresh water is rare.")


def test_notes_are_found_again_after_a_pack_update(app, client, school, settings, tmp_path, book):
    sign_in_as(client, school, "student")
    kept = add(client, chapter="geo.ch01", kind="highlight", exact="Fresh water is rare.").get_json()
    moved = add(client, chapter="geo.ch02", kind="note", exact="4506 metres", text="high").get_json()
    lost = add(client, chapter="geo.ch01", kind="note", exact="flows into Lake Balkhash", text=SECRET).get_json()
    pdf = add(client, "lakes", kind="highlight", page=3, exact="Lakes on page 3").get_json()
    # 1.1: the chapters change places (node ids follow positions), the river's sentence is rewritten,
    # the PDF gains a fourth page
    install(app, settings, tmp_path, "1.1.0", one="<p>A new first paragraph.</p>" + CHAPTER_ONE.replace(
        "flows into Lake Balkhash", "ends in Lake Balkhash"), swap=True, pages=4)
    with app.app_context():
        found = {n.id: n for n in ReaderNote.select()}
    assert not found[kept["id"]].lost and found[kept["id"]].chapter_id == "geo.ch02"
    assert not found[moved["id"]].lost and found[moved["id"]].chapter_id == "geo.ch01"
    assert found[lost["id"]].lost and found[lost["id"]].text == SECRET
    assert not found[pdf["id"]].lost and found[pdf["id"]].page == 3  # its words are still on page 3
    page = client.get("/library/local.geo/geo/notes").get_data(as_text=True)
    assert "This passage is no longer in the book." in page and SECRET in page
    assert f"/library/local.geo/geo.ch02?lang=en#note-{kept['id']}" in page
    chapter_page = client.get("/library/local.geo/geo.ch02").get_data(as_text=True)
    assert 'data-exact="Fresh water is rare."' in chapter_page


def test_text_quote_selector_matching():
    text = notes.normalize("  Fresh   water.\nHalf is fresh water and half is salty. fresh water ")
    assert notes.locate(text, "fresh water", "Half is ", " and") == text.index("fresh water and")
    assert notes.locate(text, "fresh water", "salty. ", "") == text.rindex("fresh water")
    assert notes.locate(text, "sea", "", "") is None
    repeated = "a b c. " * 5  # the same words in the same context: the position chooses
    # (the last one ends the text: its context is poorer, so 99 finds the fourth)
    assert [notes.locate(repeated, "b c.", "a ", " a", hint) for hint in (0, 9, 16, 99)] == [2, 9, 16, 23]
    assert notes.html_text("<p>A&amp;B</p><p>C <b>d</b>\n e</p>") == "A&BC d e"


def pg_school_with_book(pg_app, settings, tmp_path) -> tuple:
    """A migrated PostgreSQL school with a PIN class, a student (PIN 4321) and the geography book."""
    from classroom_server import migrations
    from classroom_server.accounts import services as accounts
    from classroom_server.db import database
    migrations.migrate(database.obj)
    with pg_app.app_context():
        room = accounts.create_classroom("5А", 5, "pin")
        student = accounts.create_user(None, "Әлия", "student")
        accounts.enrol(student, room)
        accounts.set_student_secret(student, room, "4321")
    install(pg_app, settings, tmp_path)
    return room, student


@contextmanager
def pg_school_served(pg_app, settings, tmp_path):
    """pg_school_with_book on a real waitress server in a thread: (its base URL, the class, the student)."""
    room, student = pg_school_with_book(pg_app, settings, tmp_path)
    url, stop = serve_in_thread(pg_app)
    try:
        yield url, room, student
    finally:
        stop()


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("CLASSROOM_TEST_POSTGRES_URL"),
                    reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_notes_kept_and_found_again_on_postgres(pg_app, settings, tmp_path):
    room, student = pg_school_with_book(pg_app, settings, tmp_path)
    client = pg_app.test_client()
    post(client, f"/signin/class/{room.id}/student/{student.id}", {"pin": "4321"})
    kept = add(client, chapter="geo.ch01", kind="highlight", exact="Fresh water is rare.")
    assert kept.status_code == 201, kept.get_data(as_text=True)
    lost = add(client, chapter="geo.ch01", kind="note", exact="flows into Lake Balkhash", text=SECRET).get_json()
    post(client, "/library/reader", {"contrast": "dark"})
    for _ in range(2):  # the chapter page reads the settings, the place and the notes in one query
        opened = client.get("/library/local.geo/geo.ch01").get_data(as_text=True)
        assert 'contrast-dark' in opened and 'data-position="0.0000"' in opened
        assert "Fresh water is rare." in opened.split('class="chapter-notes"')[1] and SECRET in opened
    install(pg_app, settings, tmp_path, "1.1.0", one=CHAPTER_ONE.replace("flows into", "ends in"), swap=True)
    with pg_app.app_context():
        found = {n.id: n for n in ReaderNote.select()}
    assert found[kept.get_json()["id"]].chapter_id == "geo.ch02" and not found[kept.get_json()["id"]].lost
    assert found[lost["id"]].lost and found[lost["id"]].text == SECRET


@pytest.mark.slow  # crashes a server on purpose
def test_no_acknowledged_note_is_lost_when_the_server_dies(app, school, settings, tmp_path):
    """Students write notes while the server process is killed (SIGKILL, as a power cut takes it):
    every note answered 201 is in the database afterwards."""
    import signal
    import threading
    import requests
    from classroom_server.db import database
    install(app, settings, tmp_path)
    pin_class, student = school.pin_class.id, school.student.id
    database.close()
    acknowledged: list[str] = []
    with serving(settings.data_dir) as (pid, url):
        browser = requests.Session()
        page = browser.get(f"{url}/signin/class/{pin_class}/student/{student}", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert browser.post(f"{url}/signin/class/{pin_class}/student/{student}", data={"pin": "4321",
                            "csrf_token": token}, allow_redirects=False, timeout=30).status_code == 302
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          browser.get(f"{url}/library/local.geo/geo.ch01", timeout=10).text).group(1)

        def write(writer: int) -> None:
            for number in range(1000):
                try:
                    response = browser.post(f"{url}/library/local.geo/geo/notes", timeout=10,
                                            headers={"X-CSRF-Token": token},
                                            json={"chapter": "geo.ch01", "kind": "note", "text": f"{writer}-{number}",
                                                  "exact": "Fresh water is rare."})
                except requests.RequestException:
                    return  # the server is gone
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
        writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in writers:
            thread.start()
        while len(acknowledged) < 40:
            assert any(thread.is_alive() for thread in writers)
            threading.Event().wait(0.01)
        os.kill(pid, signal.SIGKILL)
        for thread in writers:
            thread.join(timeout=30)
    database.connect()
    with app.app_context():
        stored = {row.id for row in ReaderNote.select(ReaderNote.id)}
    assert len(acknowledged) >= 40 and set(acknowledged) <= stored


KEPT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"  # as a device makes one for a note it kept offline


def test_a_note_kept_on_the_device_and_sent_again_is_stored_once(app, client, school, book):
    """The reply to a kept note's send was lost, so the device sends it again: the server answers
    with the note it stored (200), by JSON or by the form, and keeps one. The id is the student's own:
    another student's device may make the same one without meeting the first student's note."""
    sign_in_as(client, school, "student")
    fields = dict(chapter="geo.ch01", kind="note", exact="Fresh water is rare.", text=SECRET, client_id=KEPT_ID)
    first = add(client, **fields)
    assert first.status_code == 201, first.get_json()
    again = add(client, **{**fields, "text": "sent twice"})
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["text"] == SECRET
    by_form = post(client, "/library/local.geo/geo/notes", {**fields, "client_id": KEPT_ID.upper()})
    assert by_form.status_code == 303
    assert by_form.headers["Location"].endswith(f"/library/local.geo/geo.ch01?lang=en#note-{first.get_json()['id']}")
    with app.app_context():
        assert [(n.text, n.client_id) for n in ReaderNote.select()] == [(SECRET, KEPT_ID)]
    # the chapter page names the kept id, so the device stops keeping the note (static/app.js)
    assert f'data-note-client="{KEPT_ID}"' in client.get("/library/local.geo/geo.ch01").get_data(as_text=True)
    # notes without an id (the form without JavaScript) are as many as are sent
    assert add(client, chapter="geo.ch01", kind="bookmark").status_code == 201
    assert add(client, chapter="geo.ch01", kind="bookmark").status_code == 201
    broken = add(client, **{**fields, "client_id": "not-a-uuid"})
    assert broken.status_code == 400 and "broken id" in broken.get_json()["message"]
    # refused by the form: the error page names the id, so the device stops keeping a note it cannot store
    other_id = KEPT_ID.replace("6f1c", "7a2d")
    refused = post(client, "/library/local.geo/geo/notes", {**fields, "exact": "no such words", "client_id": other_id})
    assert refused.status_code == 400 and f'data-note-client="{other_id}"' in refused.get_data(as_text=True)
    client.get("/signout")
    other = app.test_client()
    post(other, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    theirs = add(other, **{**fields, "text": "mine"})
    assert theirs.status_code == 201 and theirs.get_json()["id"] != first.get_json()["id"]
    with app.app_context():
        assert sorted(n.text for n in ReaderNote.select().where(ReaderNote.client_id == KEPT_ID)) == ["mine", SECRET]
        assert ReaderNote.select().count() == 4


def student_device(url: str, room_id: int, student_id: int):
    """A student (PIN 4321) signed in over HTTP: (the session, its CSRF token as /api/v1/me gives it)."""
    import requests
    browser = requests.Session()
    page = browser.get(f"{url}/signin/class/{room_id}/student/{student_id}", timeout=10).text
    signed_in = browser.post(f"{url}/signin/class/{room_id}/student/{student_id}", allow_redirects=False,
                             data={"pin": "4321", "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                                          page).group(1)}, timeout=30)
    assert signed_in.status_code == 302
    return browser, browser.get(f"{url}/api/v1/me", timeout=10).json()["csrf_token"]


def sent_at_once(url: str, room_id: int, student_id: int, times: int = 4) -> list:
    """The same kept note sent `times` times at one moment by a signed-in student's device, as the
    page's timer and the online event (or two tabs) might: the server's answers."""
    import threading
    browser, token = student_device(url, room_id, student_id)
    answers: list = []
    start = threading.Barrier(times)

    def send() -> None:
        start.wait()
        answers.append(browser.post(f"{url}/library/local.geo/geo/notes", timeout=30, headers={"X-CSRF-Token": token},
                                    json={"chapter": "geo.ch01", "kind": "highlight", "client_id": KEPT_ID,
                                          "exact": "Fresh water is rare."}))
    senders = [threading.Thread(target=send) for _ in range(times)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=60)
    return answers


def test_a_kept_note_sent_twice_at_once_is_stored_once(app, school, book, live_server):
    """On a real server: one send stores the note, the others are answered with it."""
    answers = sent_at_once(live_server, school.pin_class.id, school.student.id)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    with app.app_context():
        assert ReaderNote.select().count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("CLASSROOM_TEST_POSTGRES_URL"),
                    reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_a_kept_note_sent_twice_at_once_is_stored_once_on_postgres(pg_app, settings, tmp_path):
    """PostgreSQL takes no school-wide write lock: the unique (user, client_id) index lets one in."""
    with pg_school_served(pg_app, settings, tmp_path) as (url, room, student):
        answers = sent_at_once(url, room.id, student.id, times=6)
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    with pg_app.app_context():
        assert ReaderNote.select().where(ReaderNote.client_id == KEPT_ID).count() == 1


def deleted_then_sent_again(url: str, room_id: int, student_id: int) -> None:
    """A kept note is stored but the reply is lost; the student deletes it on another page; the
    phone sends it again, as JSON and (a tab that never heard) by the form: it stays deleted."""
    browser, token = student_device(url, room_id, student_id)
    notes_url, headers = f"{url}/library/local.geo/geo/notes", {"X-CSRF-Token": token}
    kept = {"chapter": "geo.ch01", "kind": "note", "exact": "Fresh water is rare.", "text": SECRET,
            "client_id": KEPT_ID}
    first = browser.post(notes_url, json=kept, headers=headers, timeout=30)
    assert first.status_code == 201, first.text
    deleted = browser.post(f"{notes_url}/{first.json()['id']}", json={"delete": True}, headers=headers, timeout=30)
    assert deleted.status_code == 204, deleted.text
    again = browser.post(notes_url, json=kept, headers=headers, timeout=30)
    assert (again.status_code, again.json()) == (200, {"client_id": KEPT_ID, "deleted": True})
    by_form = browser.post(notes_url, data={**kept, "client_id": KEPT_ID.upper(), "csrf_token": token},
                           allow_redirects=False, timeout=30)
    assert by_form.status_code == 303 and by_form.headers["Location"].endswith("/library/local.geo/geo/notes")
    assert browser.get(notes_url, params={"format": "json"}, timeout=10).json() == {"notes": []}
    # a note without an id (the form without JavaScript) leaves nothing behind when deleted
    bookmark = browser.post(notes_url, json={"chapter": "geo.ch01", "kind": "bookmark"}, headers=headers, timeout=30)
    assert browser.post(f"{notes_url}/{bookmark.json()['id']}", json={"delete": True}, headers=headers,
                        timeout=30).status_code == 204


def test_a_deleted_note_sent_again_by_the_device_stays_deleted(app, school, book, live_server):
    """On a real server: the deleted note's id is remembered (no words), so the late repeat is
    answered "already handled" and stores nothing; another student's device may use the same id."""
    deleted_then_sent_again(live_server, school.pin_class.id, school.student.id)
    with app.app_context():
        assert ReaderNote.select().count() == 0
        assert [(d.user_id, d.client_id) for d in DeletedNote.select()] == [(school.student.id, KEPT_ID)]
    client = app.test_client()
    post(client, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    assert add(client, chapter="geo.ch01", kind="highlight", exact="Fresh water is rare.",
               client_id=KEPT_ID).status_code == 201


def test_the_deleted_ids_kept_are_the_newest_of_each_student(app, client, school, book):
    """A student's deleted ids stay few: deleting one more note forgets the oldest beyond KEEP_DELETED."""
    with app.app_context():
        old_ids = [str(uuid.UUID(int=n)) for n in range(notes.KEEP_DELETED)]
        DeletedNote.insert_many([{"user": school.student.id, "client_id": i} for i in old_ids]).execute()
        DeletedNote.insert(user=school.other_student.id, client_id=old_ids[0]).execute()
    sign_in_as(client, school, "student")
    kept = add(client, chapter="geo.ch01", kind="bookmark", client_id=KEPT_ID).get_json()
    assert post(client, f"/library/local.geo/geo/notes/{kept['id']}", {"delete": "1"}).status_code == 303
    with app.app_context():
        theirs = [d.client_id for d in DeletedNote.select().where(DeletedNote.user == school.student.id)
                  .order_by(DeletedNote.id)]
        assert theirs == old_ids[1:] + [KEPT_ID]
        assert DeletedNote.select().where(DeletedNote.user == school.other_student.id).count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("CLASSROOM_TEST_POSTGRES_URL"),
                    reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_a_deleted_note_sent_again_stays_deleted_on_postgres(pg_app, settings, tmp_path):
    with pg_school_served(pg_app, settings, tmp_path) as (url, room, student):
        deleted_then_sent_again(url, room.id, student.id)
    with pg_app.app_context():
        assert ReaderNote.select().count() == 0
        assert [d.client_id for d in DeletedNote.select()] == [KEPT_ID]
