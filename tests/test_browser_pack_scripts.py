"""Real Chromium, as a school serves it (plain HTTP at a LAN name): a content pack's script files
never run as this server's own scripts. Pages let only their own nonce-carrying script run (a pack's
.js is same-origin, so `script-src 'self'` would let it in); a pack's HTML opened directly or in
the lesson frame runs sandboxed, with an opaque origin that can read no cookie or page of ours."""
from __future__ import annotations

import hashlib

import pytest


from .browsertesting import CHROMIUM, CHROMIUM_ARGS, sign_in_staff, sync_api
from .packs import install_signed, pack_source

pytestmark = pytest.mark.browser

EVIL_JS = b"""window.__packRan = self.origin; document.documentElement.dataset.packRan = self.origin;"""
EVIL_HTML = b"""<!doctype html><html lang="kk"><title>evil</title>
<p id="p">lesson</p><script src="evil.js"></script>
<script>document.title = "origin:" + self.origin;
try { document.title += " cookie:" + document.cookie; } catch (e) { document.title += " cookie:refused"; }</script>
</html>"""


@pytest.fixture
def evil_pack(app, settings, tmp_path):
    source = pack_source(tmp_path / "src", extra_files={"lessons/intro.kk.html": EVIL_HTML,
                                                         "lessons/evil.js": EVIL_JS})
    with app.app_context():
        install_signed(source, settings.data_dir)
    return hashlib.sha256(EVIL_JS).hexdigest()


@pytest.fixture
def school_page(live_server, school, evil_pack):
    """A page at http://school.test:<port>/ (a LAN name over plain HTTP, as in a school), signed in."""
    port = live_server.rsplit(":", 1)[1]
    base = f"http://school.test:{port}"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP school.test 127.0.0.1"])
        context = browser.new_context(base_url=base, locale="en-US")
        context.set_default_timeout(10_000)
        page = context.new_page()
        sign_in_staff(page, "teacher")
        yield page
        browser.close()


def inject(page, src: str) -> dict:
    """Add <script src> to the current page of ours (as an injection would); what happened."""
    return page.evaluate("""src => new Promise(done => {
        let violated = null;
        document.addEventListener("securitypolicyviolation", e => { violated = e.violatedDirective; });
        const script = document.createElement("script");
        script.src = src;
        script.onload = () => setTimeout(() => done({loaded: true, ran: window.__packRan || null, violated}), 50);
        script.onerror = () => setTimeout(() => done({loaded: false, ran: window.__packRan || null, violated}), 50);
        document.head.appendChild(script);
    })""", src)


@pytest.mark.parametrize("kind", ["pack path", "blob"])
def test_a_pack_script_never_runs_in_our_pages(school_page, evil_pack, kind):
    page = school_page
    page.goto("/library/")
    src = "/content/pack/test.algebra/lessons/evil.js" if kind == "pack path" else f"/content/{evil_pack}/evil.js"
    happened = inject(page, src)
    assert happened["ran"] is None and not happened["loaded"], happened
    assert happened["violated"] and happened["violated"].startswith("script-src"), happened
    assert page.evaluate("document.documentElement.dataset.packRan") is None


def test_our_own_script_still_runs(school_page):
    page = school_page
    page.goto("/library/")
    # Our one script carries the response's nonce, which lets it run.
    assert page.evaluate("""() => Array.from(document.scripts).every(s => s.nonce && new URL(s.src).pathname === '/static/app.js')""")
    assert page.evaluate("typeof window.__packRan") == "undefined"


def test_a_pack_page_opened_directly_runs_with_no_origin_of_ours(school_page):
    page = school_page
    page.goto("/content/pack/test.algebra/lessons/intro.kk.html")
    sync_api.expect(page).to_have_title("origin:null cookie:refused")


def test_a_pack_script_file_opened_directly_is_not_run(school_page):
    page = school_page
    response = page.goto("/content/pack/test.algebra/lessons/evil.js")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert page.evaluate("document.documentElement.dataset.packRan") is None


def test_the_lesson_frame_is_sandboxed(school_page):
    page = school_page
    page.goto("/library/test.algebra/intro?lang=kk")
    frame = page.frame_locator("iframe.lesson")
    sync_api.expect(frame.locator("#p")).to_have_text("lesson")
    inner = next(f for f in page.frames if f != page.main_frame)
    assert inner.evaluate("self.origin") == "null"
    assert inner.evaluate("window.__packRan") == "null"  # lessons' own scripts still work, sandboxed
    assert page.evaluate("typeof window.__packRan") == "undefined"
