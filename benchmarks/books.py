"""E-textbook benchmark: a 300-page PDF textbook and a chapter of 200 matrices on a phone-sized Chromium.

Run from the repository root:

    python benchmarks/books.py [--pages 300] [--out docs/BENCHMARKS.md]

1. PDF: makes a 300-page PDF of about 30 MB (a photograph-like picture and a line of text on each
   page), times `pack build` (PDFium renders every page once), installs the pack in a fresh school,
   serves it with waitress on loopback and opens the book in Chromium at 360 x 740 px: time until
   the first page's picture has loaded, and the bytes fetched by then, unthrottled and on a
   simulated 10 Mbit/s, 40 ms Wi-Fi.
2. Matrices: a chapter with 200 MathML matrices (Archetype B of Beezer's linear algebra, repeated)
   imported from an EPUB: its page weight and the time until Chromium has laid it out.
3. Notes: a student with 50 highlights spread over that chapter opens it: the time reader.js takes
   to find and mark them (its `classroom-notes` performance measure).

It prints a table and replaces its section of the report. It reports figures; it asserts none.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import machine_busy, markdown_table, replace_section  # noqa: E402

PHONE = {"width": 360, "height": 740}
PASSWORD = "correct horse battery"


def photo_pdf(pages: int) -> bytes:
    """A PDF of `pages` A4 pages, each with a ~100 KB JPEG (noise, like a scanned photo) and text."""
    import pypdfium2 as pdfium
    from PIL import Image
    from tests.pdfs import textbook

    document = pdfium.PdfDocument(textbook(pages, "Photosynthesis"))
    randomness = random.Random(7)
    for index in range(pages):
        picture = Image.frombytes("RGB", (460, 300), randomness.randbytes(460 * 300 * 3))
        jpeg = io.BytesIO()
        picture.save(jpeg, "JPEG", quality=85)
        page = document[index]
        image = pdfium.PdfImage.new(document)
        image.load_jpeg(io.BytesIO(jpeg.getvalue()), inline=True)
        image.set_matrix(pdfium.PdfMatrix().scale(460, 300).translate(72, 120))
        page.insert_obj(image)
        page.gen_content()
        page.close()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def matrices_epub(target: Path, count: int = 200) -> None:
    """linear-algebra-part with Archetype B's body repeated until the chapter holds `count` matrices."""
    from tests.epubs import zip_book

    def grow(rel: str, data: bytes) -> bytes:
        if not rel.endswith("li74.xhtml"):
            return data
        text = data.decode("utf-8")
        head, rest = text.split("<body", 1)
        opening, body = rest.split(">", 1)
        body = body.rsplit("</body>", 1)[0]
        copies, found = [], 0
        while found < count:
            copies.append(body.replace(' id="', f' id="r{len(copies)}-'))
            found += body.count("<mtable")
        return f"{head}<body{opening}>{''.join(copies)}</body></html>".encode("utf-8")

    zip_book("linear-algebra-part", target, grow)


NOTES = 50


def add_highlights(data_dir: Path, student, count: int) -> int:
    """`count` highlights spread evenly over the matrices chapter's text, kept by the notes service."""
    from classroom_server.content import notes
    from classroom_server.content.services import BlobStore
    from classroom_server.models import ContentNode, ContentPack
    pack = ContentPack.get(ContentPack.pack_id == "org.w3.epub3-samples")
    book = ContentNode.get(ContentNode.pack == pack, ContentNode.node_id == "algebra")
    chapter = ContentNode.get(ContentNode.pack == pack, ContentNode.node_id == "algebra.ch04")
    path = json.loads(chapter.data)["content"]["en"]
    read = notes.blob_reader(pack, BlobStore(data_dir).path)
    text = notes.text_of(pack, path, None, read)
    step = len(text) // count
    for number in range(count):
        exact = text[number * step:number * step + 40].strip()
        notes.add(student, pack, book, chapter, path, "highlight", read, exact=exact,
                  prefix=text[max(0, number * step - 32):number * step], position=number * step)
    return count


def serve(app):
    from waitress import create_server
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.effective_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from classroom_server.accounts import services as accounts
    from classroom_server.app import create_app
    from classroom_server.content.services import install_pack
    from classroom_server.settings import load_settings
    from content_packs.builder import build_pack
    from tests.epubs import book_pack

    def busy() -> float:
        """Per cent of one core the machine spent busy over a second (other developers' work)."""
        before = machine_busy()
        time.sleep(1)
        return 100 * (machine_busy() - before)

    busy_before = busy()
    with tempfile.TemporaryDirectory(prefix="books-bench-") as folder:
        folder = Path(folder)
        print(f"books: a {args.pages}-page PDF ...", file=sys.stderr)
        source = folder / "pdf"
        (source / "books").mkdir(parents=True)
        pdf_bytes = photo_pdf(args.pages)
        (source / "books" / "biology.pdf").write_bytes(pdf_bytes)
        (source / "pack.json").write_text(json.dumps({
            "format_version": 1, "id": "bench.pdf", "version": "1.0.0", "title": {"en": "Biology"},
            "subject": "biology", "grades": [7], "languages": ["en"], "license": "CC0-1.0", "authors": ["Bench"],
            "review": {"status": "draft"},
            "nodes": [{"id": "biology", "kind": "ebook", "title": {"en": "Biology"},
                       "pdf": {"en": "books/biology.pdf"}}]}), encoding="utf-8")
        started = time.perf_counter()
        manifest = build_pack(source, folder / "pdf.ckpack")
        build_seconds = time.perf_counter() - started
        pictures = [f for f in manifest.files if f.path.endswith(".webp")]
        book_pack(folder / "m", {"algebra": ("linear-algebra-part", "en")})
        matrices_epub(folder / "m" / "src" / "linear-algebra-part.epub")  # replaces the plain copy
        build_pack(folder / "m", folder / "m.ckpack")

        settings = load_settings(folder / "data", environ={})
        app = create_app(settings)
        from classroom_server import migrations
        from classroom_server.db import database
        with app.app_context():
            database.connect(reuse_if_open=True)
            migrations.migrate(database.obj)
            accounts.create_user("boss", "Admin", "admin", PASSWORD)  # a school with an admin is set up
            accounts.create_user("teacher", "Teacher", "teacher", PASSWORD)
            install_pack(folder / "pdf.ckpack", settings.data_dir, (), allow_unreviewed=True)
            install_pack(folder / "m.ckpack", settings.data_dir, (), allow_unreviewed=True)
            room = accounts.create_classroom("7A", 7, "pin")
            student = accounts.create_user(None, "Student", "student")
            accounts.enrol(student, room)
            accounts.set_student_secret(student, room, "4321")
            highlights = add_highlights(settings.data_dir, student, NOTES)
        server, base = serve(app)
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            for label, throttle in (("loopback", None), ("10 Mbit/s, 40 ms", (10_000_000 / 8, 40))):
                # no service worker: a school's plain-HTTP LAN address has none
                context = browser.new_context(base_url=base, viewport=PHONE, locale="en-US", service_workers="block")
                page = context.new_page()
                page.goto("/signin")
                staff = page.locator("section", has=page.get_by_role("heading", name="Teachers and staff"))
                staff.get_by_label("Username").fill("teacher")
                staff.get_by_label("Password").fill(PASSWORD)
                staff.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("load")
                if throttle:
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": throttle[1],
                             "downloadThroughput": throttle[0], "uploadThroughput": throttle[0]})
                started = time.perf_counter()
                page.goto("/library/bench.pdf/biology", wait_until="commit")
                page.wait_for_function("() => { const i = document.querySelector('#page-1 img');"
                                       " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
                first_page = time.perf_counter() - started
                before = page.evaluate("() => performance.getEntriesByType('navigation')[0].encodedBodySize + "
                                       "performance.getEntriesByType('resource').reduce((s, e) => s + e.encodedBodySize, 0)")
                rows.append((f"PDF, {args.pages} pages, {len(pdf_bytes) / 2**20:.1f} MiB: first page ({label})",
                             f"{first_page:.2f} s", f"{before / 1024:,.0f} KiB "
                             f"({100 * before / len(pdf_bytes):.1f} % of the PDF)"))
                started = time.perf_counter()
                page.goto("/library/org.w3.epub3-samples/algebra.ch04", wait_until="load")
                page.evaluate("document.querySelectorAll('mtable').length")
                laid_out = time.perf_counter() - started
                weight = page.evaluate("() => performance.getEntriesByType('navigation')[0].encodedBodySize")
                count = page.evaluate("document.querySelectorAll('article mtable').length")
                rows.append((f"chapter of {count} matrices ({label})", f"{laid_out:.2f} s",
                             f"{weight / 1024:,.0f} KiB HTML"))
                context.close()
            # a student's highlights marked in that chapter when it opens (reader.js, one index of the text)
            context = browser.new_context(base_url=base, viewport=PHONE, locale="en-US", service_workers="block")
            page = context.new_page()
            page.goto(f"/signin/class/{room.id}/student/{student.id}")
            page.get_by_label("Type your PIN").fill("4321")
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_load_state("load")
            marking = []
            for _ in range(3):
                page.goto("/library/org.w3.epub3-samples/algebra.ch04", wait_until="load")
                marking.append(page.evaluate("performance.getEntriesByName('classroom-notes', 'measure')[0].duration"))
            marks = page.evaluate("new Set([...document.querySelectorAll('mark.my-mark[id]')].map(m => m.id)).size")
            rows.append((f"{marks} of {highlights} highlights marked in that chapter (loopback, median of 3)",
                         f"{sorted(marking)[1]:.0f} ms", ""))
            context.close()
            browser.close()
        server.close()
    busy_after = busy()
    table = markdown_table(("what", "time", "bytes"), rows)
    body = "\n".join([
        "## E-textbooks on a phone (`benchmarks/books.py`)", "",
        f"Chromium at 360 x 740 px against waitress on loopback; the rest of the machine was "
        f"{busy_before:.0f} % / {busy_after:.0f} % of a core busy before / after (2 cores shared). `pack build` rendered the "
        f"{args.pages} pages in {build_seconds:.1f} s ({1000 * build_seconds / args.pages:.0f} ms a page) into "
        f"{sum(f.size for f in pictures) / 2**20:.1f} MiB of WebP pictures "
        f"({sum(f.size for f in pictures) / len(pictures) / 1024:.0f} KiB a page). Bytes are what the phone "
        "fetched from opening the book until the first page's picture had loaded (HTML with every page's "
        "text, stylesheet, scripts, the first pictures).", "", table])
    print(body)
    replace_section(args.out, "books", body)


if __name__ == "__main__":
    main()
