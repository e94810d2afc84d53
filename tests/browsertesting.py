"""Chromium for the browser tests (Playwright, skipped where it is missing): the browser per module,
on the school's LAN name or on loopback, a page signed in as staff or as a student with a PIN, the
checks every page passes (no horizontal scroll at phone width, axe), the practice pack and the
answers the service worker queues. A module imports fixtures by name:
`from .browsertesting import browser, lan_browser  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import contextlib
import datetime
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from classroom_server.coach import services as coach
from classroom_server.models import utcnow
from tests.helpers import PASSWORD
from tests.practicepack import MIX, PACK

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright",
                               reason="browser tests need axe-playwright-python")
expect = sync_api.expect

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the whole file; each test gets fresh contexts from `new_page`."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# A school's address as phones meet it: a name over plain HTTP, which browsers do not treat as a
# secure context (unlike 127.0.0.1). Chromium maps it to the test server's loopback address.
LAN_NAME = "school.test"


@pytest.fixture(scope="module")
def lan_browser():
    """One Chromium for the whole file that finds the school at http://school.test:<port>/."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS + [f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1"])
        yield browser
        browser.close()


@contextlib.contextmanager
def pages_at(browser, base: str, timeout_ms: int) -> Iterator[Callable[..., Any]]:
    """`make(**context options)` opens a page in a fresh browser context on `base`; once the block
    ends, every request those pages made must have stayed on that server (offline means offline)."""
    contexts, requested = [], []

    def make(**options):
        context = browser.new_context(base_url=base, **options)
        context.set_default_timeout(timeout_ms)
        context.on("request", lambda request: requested.append(request.url))
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    outside = [url for url in requested if not (url.startswith(base + "/") or url.startswith("data:"))]
    assert requested, "the browser made no requests at all: did the test open any page?"
    assert not outside, f"pages loaded things from outside {base}: {outside}"


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in fresh browser contexts; afterwards check that every request stayed on the server."""
    with pages_at(browser, live_server, timeout_ms=10_000) as make:
        yield lambda **options: make(**{"locale": "en-US", **options})


def sign_in_staff(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    staff = page.locator("section", has=page.get_by_role("heading", name="Teachers and staff"))
    staff.get_by_label("Username").fill(username)
    staff.get_by_label("Password").fill(password)
    staff.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_in_student_pin(page, class_name: str, student_name: str, pin: str) -> None:
    open_student_secret_page(page, class_name, student_name)
    page.get_by_label("Type your PIN").fill(pin)
    page.get_by_role("button", name="Sign in", exact=True).click()


def tab_to(page, is_target: str, max_presses: int = 40) -> None:
    """Press Tab until the focused element satisfies the JS predicate `is_target(el)`."""
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"(({is_target}))(document.activeElement)"):
            return
    focused = page.evaluate("document.activeElement.outerHTML")
    pytest.fail(f"Tab never reached the element wanted by {is_target}; focus is on {focused}")


def assert_no_horizontal_scroll(page, what: str) -> None:
    # After a click the new page may be measured before its stylesheet has applied (a busy machine):
    # wait for the load event, which waits for the stylesheet.
    page.wait_for_load_state("load")
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    if widths["scroll"] > widths["inner"]:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 5).map(el => el.outerHTML.slice(0, 120))""")
        pytest.fail(f"{what} ({page.url}) scrolls sideways at {widths['inner']} px: content is "
                    f"{widths['scroll']} px wide; too wide: {wide}")


def axe_report(page, what: str) -> str:
    """'' when axe-core finds nothing, else a readable list of the violations on this page."""
    results = axe_sync.Axe().run(page)
    lines = []
    for violation in results.response["violations"]:
        lines.append(f"{what} ({page.url}): {violation['id']} [{violation['impact']}] "
                     f"{violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            for check in node.get("any", []) + node.get("all", []) + node.get("none", []):
                lines.append(f"        - {check['message']}")
    return "\n".join(lines)


QUEUED_COUNT_JS = """() => new Promise((resolve, reject) => {
    const open = indexedDB.open("classroom", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("answers", {keyPath: "record_id"});
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const request = open.result.transaction("answers").objectStore("answers").getAll();
        request.onsuccess = () => { open.result.close(); resolve(request.result); };
        request.onerror = () => reject(request.error);
    };
})"""


@pytest.fixture
def practice_pack(app, settings, tmp_path):
    from .packs import install_signed
    from .practicepack import practice_source
    install_signed(practice_source(tmp_path / "practice-src"), settings.data_dir)


def wait_for_service_worker(page) -> None:
    """Wait until the service worker is active, then reload so that it controls this page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def go_offline(page) -> None:
    """Cut the device off the network once the page's app.js has run. Until then the page is only
    its HTML: a form would go to the network and meet the browser's error page (seen under load:
    the question was on the screen while app.js, deferred, had not run yet)."""
    page.wait_for_function("typeof window.classroomUpload === 'function'")
    page.context.set_offline(True)


def queued_answers(page) -> list:
    return page.evaluate(QUEUED_COUNT_JS)


def put_back(page, entry: dict) -> None:
    """Put an answer back in the device's queue, as if the server's reply to it had been lost."""
    page.evaluate("""entry => new Promise((resolve, reject) => {
        const open = indexedDB.open("classroom", 1);
        open.onsuccess = () => {
            const tx = open.result.transaction("answers", "readwrite");
            tx.objectStore("answers").put(entry);
            tx.oncomplete = () => { open.result.close(); resolve(); };
            tx.onerror = () => reject(tx.error);
        };
    })""", entry)


def wait_until_sent(page, seconds: float = 10.0) -> None:
    """Wait until the device's queue of answers is empty (wait_for_function would take the
    Promise the IndexedDB read returns for a truthy answer at once)."""
    deadline = time.monotonic() + seconds
    while queued_answers(page):
        if time.monotonic() > deadline:
            pytest.fail(f"answers still waiting on the device after {seconds} s: {queued_answers(page)}")
        page.wait_for_timeout(200)


# The notes a student kept on the device while the server could not be reached (static/app.js).
NOTES_STORE_JS = """([entry]) => new Promise((resolve, reject) => {
    const open = indexedDB.open("classroom-notes", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("notes", {keyPath: "client_id"});
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
        const tx = open.result.transaction("notes", entry ? "readwrite" : "readonly");
        const request = entry ? tx.objectStore("notes").put(entry) : tx.objectStore("notes").getAll();
        tx.oncomplete = () => { open.result.close(); resolve(entry ? null : request.result); };
        tx.onerror = () => reject(tx.error);
    };
})"""


def kept_notes(page) -> list:
    return page.evaluate(NOTES_STORE_JS, [None])


def put_back_note(page, entry: dict) -> None:
    """Put a note back among those the device keeps, as if the server's reply to it had been lost."""
    page.evaluate(NOTES_STORE_JS, [entry])


def wait_until_kept(page, urls, seconds: float = 10.0) -> None:
    """Wait until the service worker has put these pages in its cache (it does so after answering)."""
    deadline = time.monotonic() + seconds
    while not all(page.evaluate("url => caches.match(url).then(found => !!found)", url) for url in urls):
        if time.monotonic() > deadline:
            pytest.fail(f"the service worker did not keep {urls} within {seconds} s")
        page.wait_for_timeout(100)


def open_student_secret_page(page, class_name: str, student_name: str) -> None:
    """From the sign-in page: tap the class, then the name."""
    page.goto("/signin")
    page.get_by_role("link", name=class_name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(class_name)
    page.get_by_role("link", name=student_name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(student_name)


STUDENT = ("5А", "Әлия Нұрланқызы", "4321")


def fill(page, item: dict, fields: dict) -> None:
    """Answer `item` on its question page the way a person would, from form fields."""
    kind = item["type"]
    form = page.locator("form.question")
    if kind in ("single", "multiple"):
        values = fields["answer"] if isinstance(fields["answer"], list) else [fields["answer"]]
        for value in values:
            form.locator(f"input[name=answer][value='{value}']").check()
    elif kind in ("numeric", "text"):
        form.locator("input[name=answer]").fill(fields["answer"])
    else:
        for name, value in fields.items():
            form.locator(f"select[name='{name}']").select_option(value)


@pytest.fixture
def school_page(lan_browser, live_server):
    """A phone's page on http://school.test:<port>/; afterwards, every request stayed on it."""
    base = live_server.replace("127.0.0.1", LAN_NAME)
    context = lan_browser.new_context(base_url=base, locale="en-US", viewport=PHONE)
    context.set_default_timeout(10_000)
    requested = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    yield page
    context.close()
    outside = [url for url in requested if not (url.startswith(base + "/") or url.startswith("data:"))]
    assert requested and not outside, f"pages loaded things from outside {base}: {outside}"


@pytest.fixture
def homework(school, practice_pack):
    return coach.create_assignment(school.pin_class, school.teacher, "Six questions", [(PACK, MIX, None)],
                                   due_at=utcnow() + datetime.timedelta(days=3))


def assert_not_a_secure_context(page) -> None:
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("typeof crypto.randomUUID") == "undefined"
    assert page.evaluate("'serviceWorker' in navigator") is False


@contextlib.contextmanager
def hub_phone(hub, locale: str = "ru-RU") -> Iterator[tuple[str, Any, Callable[[str], None]]]:
    """Chromium as a 360 px phone at http://hub.test:<port>/: (base URL, page, check(what)); check runs
    axe-core and the sideways-scroll test. At the end: no accessibility problem, nothing from elsewhere."""
    port = hub.url.rsplit(":", 1)[1]
    base = f"http://hub.test:{port}"
    requested, reports = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=CHROMIUM_ARGS + ["--host-resolver-rules=MAP hub.test 127.0.0.1"])
        try:
            context = browser.new_context(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True,
                                          accept_downloads=True)
            context.set_default_timeout(15_000)
            context.on("request", lambda request: requested.append(request.url))
            page = context.new_page()

            def check(what: str) -> None:
                assert_no_horizontal_scroll(page, what)
                reports.append(axe_report(page, what))
            yield base, page, check
        finally:
            browser.close()
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found
    outside = [url for url in requested if not url.startswith(base + "/")]
    assert requested and not outside, f"pages loaded things from elsewhere: {outside}"
