"""Serving pack files (ETag, 304, Range), the library pages, search in Kazakh and Russian, admin import."""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
import requests

import classroom_server
from classroom_server.content.services import install_pack, remove_pack
from classroom_server.models import ContentFile, ContentPack

from .helpers import check_rfc9110_answers, post, sign_in_as
from .packs import build, install_signed, make_key, pack_source


@pytest.fixture
def installed(app, settings, tmp_path):
    install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    return {row.path: row for row in ContentFile.select()}


def test_blob_has_strong_etag_immutable_cache_and_304(live_server, installed):
    wav = installed["media/tone.wav"]
    url = f"{live_server}/content/{wav.sha256}/tone.wav"
    response = requests.get(url)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("audio/")
    assert response.headers["ETag"] == f'"{wav.sha256}"'
    cache = response.headers["Cache-Control"]
    assert "immutable" in cache and "max-age=31536000" in cache and "public" in cache
    assert len(response.content) == wav.size
    again = requests.get(url, headers={"If-None-Match": f'"{wav.sha256}"'})
    assert again.status_code == 304 and again.content == b""


def test_range_requests_for_seeking(live_server, installed):
    wav = installed["media/tone.wav"]
    url = f"{live_server}/content/{wav.sha256}"
    whole = requests.get(url).content
    part = requests.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{wav.size}"
    assert part.content == whole[100:200]
    tail = requests.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole[-10:]
    beyond = requests.get(url, headers={"Range": f"bytes={wav.size + 10}-"})
    assert beyond.status_code == 416


def test_stale_if_range_multiple_ranges_and_head_get_the_whole_file(live_server, installed):
    wav = installed["media/tone.wav"]
    url = f"{live_server}/content/{wav.sha256}"
    stale = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and len(stale.content) == wav.size
    fresh = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": f'"{wav.sha256}"'})
    assert fresh.status_code == 206 and len(fresh.content) == 10
    several = requests.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert several.status_code == 200 and len(several.content) == wav.size
    head = requests.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(wav.size) and head.content == b""
    assert "Vary" not in head.headers and "Set-Cookie" not in head.headers


def test_unknown_or_malformed_hashes_are_404(client, installed):
    assert client.get("/content/" + "0" * 64).status_code == 404
    assert client.get("/content/" + "z" * 64).status_code == 404
    assert client.get("/content/pack/test.algebra/../secret_key").status_code == 404
    assert client.get("/content/pack/test.algebra/lessons/none.html").status_code == 404


def test_lesson_html_is_sandboxed_and_relative_links_resolve(client, installed):
    response = client.get("/content/pack/test.algebra/lessons/intro.kk.html")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox allow-scripts") and "connect-src 'none'" in policy
    assert "no-cache" in response.headers["Cache-Control"]
    # ../media/pie.svg from the lesson resolves to the pack's image
    assert client.get("/content/pack/test.algebra/media/pie.svg").status_code == 200


def test_the_lesson_in_the_frame_carries_our_size_script_and_stays_sandboxed(client, installed):
    plain = client.get("/content/pack/test.algebra/lessons/intro.kk.html")
    framed = client.get("/content/pack/test.algebra/lessons/intro.kk.html?frame=1")
    assert framed.status_code == 200 and framed.data.startswith(plain.data)
    assert b"classroomLessonHeight" in framed.data and b"classroomLessonHeight" not in plain.data
    assert framed.headers["Content-Type"] == "text/html; charset=utf-8"
    assert framed.headers["Content-Security-Policy"] == plain.headers["Content-Security-Policy"]
    assert framed.headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    assert framed.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/content/pack/test.algebra/lessons/intro.kk.html?frame=1",
                       headers={"If-None-Match": framed.headers["ETag"]})
    assert again.status_code == 304
    # Only HTML: a picture asked for with ?frame=1 is the picture.
    picture = client.get("/content/pack/test.algebra/media/pie.svg?frame=1")
    assert picture.data == client.get("/content/pack/test.algebra/media/pie.svg").data


def test_library_pages_show_the_pack(client, school, installed):
    sign_in_as(client, school, "student")
    page = client.get("/library/").get_data(as_text=True)
    assert "Бөлшектер" in page or "Дроби" in page
    tree = client.get("/library/test.algebra/").get_data(as_text=True)
    assert "/library/test.algebra/intro" in tree
    lesson = client.get("/library/test.algebra/intro?lang=ru").get_data(as_text=True)
    assert 'sandbox="allow-scripts allow-popups"' in lesson and "lessons/intro.ru.html?frame=1" in lesson
    audio = client.get("/library/test.algebra/tone").get_data(as_text=True)
    assert "<audio controls" in audio and installed["media/tone.wav"].sha256 in audio
    assert client.get("/library/test.algebra/nothing").status_code == 404


@pytest.mark.parametrize("query,expected", [
    ("бөлшектер", "intro"),        # Kazakh, lower case
    ("БӨЛШЕКТЕР", "intro"),        # Kazakh, upper case: Ө/ө fold
    ("числитель", "intro"),        # Russian, the page says ЧИСЛИТЕЛЬ
    ("знамен", "intro"),           # a prefix
    ("ортақ", "quiz"),             # the text of an exercise hint is not searched, but its prompt is
])
def test_search_finds_kazakh_and_russian_case_insensitively(client, school, installed, query, expected):
    sign_in_as(client, school, "student")
    body = client.get("/api/v1/search", query_string={"q": query}).get_json()
    if query == "ортақ":
        assert body["total"] == 0
        return
    assert body["total"] >= 1
    assert expected in [hit["node_id"] for hit in body["hits"]]
    assert "<mark>" in body["hits"][0]["snippet_html"] or query.lower() in body["hits"][0]["title"].lower()


def test_search_filters_and_page(client, school, installed):
    sign_in_as(client, school, "student")
    assert client.get("/api/v1/search", query_string={"q": "бөлшек", "grade": 5}).get_json()["total"] >= 1
    assert client.get("/api/v1/search", query_string={"q": "бөлшек", "grade": 6}).get_json()["total"] == 0
    assert client.get("/api/v1/search", query_string={"q": "бөлшек", "subject": "history"}).get_json()["total"] == 0
    ru_only = client.get("/api/v1/search", query_string={"q": "введение", "language": "ru"}).get_json()
    assert ru_only["total"] >= 1 and all(h["language"] == "ru" for h in ru_only["hits"])
    assert client.get("/api/v1/search").status_code == 400
    page = client.get("/library/search", query_string={"q": "числитель"}).get_data(as_text=True)
    assert "<mark>" in page


@pytest.mark.parametrize("query, error, said", [
    ({"q": "x" * 201}, "bad_parameter", "at most 200"),                 # maxLength, no longer cut silently
    ({"q": "   "}, "missing_query", "?q="),                             # minLength: spaces are no words
    ({"q": "x", "grade": "9223372036854775808"}, "bad_parameter", "grade"),  # beyond SQLite's integers
    ({"q": "x", "grade": "five"}, "bad_parameter", "grade"),
    ({"q": "x", "page": "0"}, "bad_parameter", "page"),
    ({"q": "x", "page": "99999999999999"}, "bad_parameter", "page"),
    ({"q": "x", "language": "de"}, "bad_parameter", "language"),
    ({"q": "x", "subject": "s" * 201}, "bad_parameter", "subject"),
])
def test_search_enforces_what_its_description_declares(client, school, installed, query, error, said):
    sign_in_as(client, school, "student")
    response = client.get("/api/v1/search", query_string=query)
    assert response.status_code == 400 and response.get_json()["error"] == error
    assert said in response.get_json()["message"]
    documented = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/search"]["get"]
    assert f"`{error}`" in documented["responses"]["400"]["description"]


def test_search_needs_sign_in(client, installed):
    assert client.get("/api/v1/search", query_string={"q": "x"}).status_code == 401


def test_pages_show_the_installed_version_after_an_update_a_removal_and_a_reinstall(client, school, settings,
                                                                                    tmp_path):
    """What a node page keeps per process (the pack row, catalog rows, chapter HTML, links) is keyed by
    the installed version: an update, a removal and a reinstall of the same file show on the next view."""
    key_path, public = make_key(tmp_path)
    first = build(pack_source(tmp_path / "v1", lesson_text="Бірінші нұсқа."), tmp_path / "v1.ckpack", key_path)
    install_pack(first, settings.data_dir, (), allow_unreviewed=True)  # its key not trusted: not reviewed
    row = ContentPack.get().id
    sign_in_as(client, school, "student")
    page = client.get("/library/test.algebra/book.ch1").get_data(as_text=True)
    assert "Бірінші нұсқа." in page and 'class="badge"' in page
    remove_pack("test.algebra", settings.data_dir)
    assert client.get("/library/test.algebra/book.ch1").status_code == 404
    install_pack(first, settings.data_dir, (public,))  # the same file, now signed by a trusted key
    assert ContentPack.get().id == row  # SQLite gave the row its id again: the install time tells them apart
    assert 'class="badge"' not in client.get("/library/test.algebra/book.ch1").get_data(as_text=True)
    second = build(pack_source(tmp_path / "v2", version="1.1.0", lesson_text="Екінші нұсқа."),
                   tmp_path / "v2.ckpack", key_path)
    install_pack(second, settings.data_dir, (public,))
    page = client.get("/library/test.algebra/book.ch1").get_data(as_text=True)
    assert "Екінші нұсқа." in page and "Бірінші нұсқа." not in page
    lesson = client.get("/library/test.algebra/intro").get_data(as_text=True)
    assert 'src="/content/pack/test.algebra/lessons/intro.kk.html?frame=1"' in lesson


def test_admin_uploads_a_pack_and_removes_it(client, school, settings, tmp_path, app):
    key_path, public = make_key(tmp_path)
    app.config["CLASSROOM_SETTINGS"] = settings.replace(content_trusted_keys=(public,))
    sign_in_as(client, school, "admin")
    signed = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path).read_bytes()
    response = post(client, "/admin/content/upload", {"file": (io.BytesIO(signed), "p.ckpack")},
                    content_type="multipart/form-data")
    assert response.status_code == 200 and "Installed test.algebra 1.0.0" in response.get_data(as_text=True)
    assert ContentPack.get().reviewed
    response = post(client, "/admin/content/test.algebra/remove")
    assert response.status_code == 302 and ContentPack.select().count() == 0


def test_admin_upload_of_an_unsigned_pack_needs_the_checkbox(client, school, tmp_path):
    sign_in_as(client, school, "admin")
    unsigned = build(pack_source(tmp_path / "src"), tmp_path / "u.ckpack", None).read_bytes()
    response = post(client, "/admin/content/upload", {"file": (io.BytesIO(unsigned), "u.ckpack")},
                    content_type="multipart/form-data")
    assert response.status_code == 400 and "not signed" in response.get_data(as_text=True)
    assert ContentPack.select().count() == 0
    response = post(client, "/admin/content/upload", {"file": (io.BytesIO(unsigned), "u.ckpack"),
                                                      "unreviewed": "1"}, content_type="multipart/form-data")
    assert response.status_code == 200 and not ContentPack.get().reviewed
    assert "Not reviewed" in client.get("/library/").get_data(as_text=True)


def test_admin_imports_from_a_usb_drive(client, school, settings, tmp_path, app):
    key_path, public = make_key(tmp_path)
    drive = tmp_path / "media" / "teacher" / "USB STICK"
    drive.mkdir(parents=True)
    build(pack_source(tmp_path / "a"), drive / "algebra.ckpack", key_path)
    build(pack_source(tmp_path / "b", pack_id="test.other"), drive / "other.ckpack", key_path)
    app.config["CLASSROOM_SETTINGS"] = settings.replace(content_trusted_keys=(public,),
                                                        content_usb_roots=(str(tmp_path / "media"),))
    sign_in_as(client, school, "admin")
    page = client.get("/admin/content").get_data(as_text=True)
    assert str(drive) in page
    assert post(client, "/admin/content/usb", {"drive": "/etc"}).status_code == 400
    response = post(client, "/admin/content/usb", {"drive": str(drive)})
    assert response.status_code == 200
    assert {p.pack_id for p in ContentPack.select()} == {"test.algebra", "test.other"}


def test_admin_uploads_a_pack_larger_than_the_form_limit(client, school, settings, tmp_path, app):
    key_path, public = make_key(tmp_path)
    app.config["CLASSROOM_SETTINGS"] = settings.replace(content_trusted_keys=(public,))
    big = {"media/film.mp4": bytes(range(256)) * (17 * 4096)}  # 17 MiB, over the 16 MiB cap
    ckpack = build(pack_source(tmp_path / "src", extra_files=big), tmp_path / "big.ckpack", key_path)
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/content/upload", {"file": (io.BytesIO(ckpack.read_bytes()), "big.ckpack")},
                    content_type="multipart/form-data")
    assert response.status_code == 200 and "Installed test.algebra 1.0.0" in response.get_data(as_text=True)
    # anyone else still meets the cap
    teacher = app.test_client()
    sign_in_as(teacher, school, "teacher")
    response = post(teacher, "/admin/content/upload", {"file": (io.BytesIO(ckpack.read_bytes()), "big.ckpack")},
                    content_type="multipart/form-data")
    assert response.status_code == 413


# --- RFC 9110 to the letter: /content and /opds/book answer through one helper (test_opds.py) ---


def test_content_files_answer_conditionals_and_ranges_to_the_letter(live_server, installed):
    wav = installed["media/tone.wav"]
    url = f"{live_server}/content/{wav.sha256}"
    check_rfc9110_answers(url, f'"{wav.sha256}"', requests.get(url).content)


def test_every_405_names_the_allowed_methods(live_server):
    for path in ("/healthz", "/api/v1/me", "/opds/"):
        answer = requests.put(live_server + path)
        assert answer.status_code == 405, path
        assert "GET" in answer.headers["Allow"], path


def test_static_files_carry_their_version_and_are_kept_a_year_under_it(client, school):
    # Every page asked again for style.css, app.js and the icon (304s) before: under a URL that
    # names the file's version the phone keeps them, and an upgrade changes the URL.
    page = client.get("/signin").get_data(as_text=True)
    found = dict(re.findall(r'/static/(style\.css|app\.js|icon\.svg)\?v=([0-9a-f]{12})"', page))
    assert set(found) == {"style.css", "app.js", "icon.svg"}
    static = Path(classroom_server.__file__).parent / "static"
    for name, version in found.items():
        assert version == hashlib.sha256((static / name).read_bytes()).hexdigest()[:12]
        kept = client.get(f"/static/{name}?v={version}")
        assert kept.status_code == 200
        assert kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # Without the version, or with one from before an upgrade: checked each time, as before.
    for url in ("/static/app.js", "/static/app.js?v=000000000000"):
        assert client.get(url).headers["Cache-Control"] == "no-cache"
