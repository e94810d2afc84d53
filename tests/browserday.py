"""A school day in Chromium at the school's LAN name (http://school.test:<port>/), as the day tests
walk it: pages on a laptop or a phone that load nothing from elsewhere (`new_page`), the sample packs
installed (`sample_packs`), a student signed in with a PIN. A module imports the fixtures by name:
`from .browserday import new_page, sample_packs  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import re

import pytest

from tests.browsertesting import expect

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def new_page(lan_browser, live_server):
    base = live_server.replace("127.0.0.1", "school.test")
    contexts, requested = [], []

    def make(locale: str = "ru-RU", viewport: dict = LAPTOP):
        context = lan_browser.new_context(base_url=base, locale=locale, viewport=viewport)
        context.set_default_timeout(15_000)
        context.on("request", lambda request: requested.append(request.url))
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert requested and not [url for url in requested if not url.startswith(base + "/") and
                              not url.startswith("data:")], "a page loaded something from elsewhere"


@pytest.fixture
def sample_packs(app, settings, tmp_path):
    from content_packs.samples import build_samples
    from content_packs.signing import generate_key, load_private_key

    from classroom_server.content.services import install_pack
    pem, public = generate_key()
    (tmp_path / "sample.pem").write_bytes(pem)
    for path in build_samples(tmp_path / "samples", load_private_key(tmp_path / "sample.pem")):
        install_pack(path, settings.data_dir, (public,))


def sign_in_student(page, class_name: str, name: str, pin: str) -> None:
    page.goto("/signin")
    page.get_by_role("link", name=class_name, exact=True).click()
    page.get_by_role("link", name=name).click()
    page.locator("input[name=pin]").fill(pin)
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/learn/$"))
