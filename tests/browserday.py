"""A school day in Chromium at the school's LAN name (http://school.test:<port>/), as the day tests
walk it: pages on a laptop or a phone that load nothing from elsewhere (`new_page`), the sample packs
installed (`sample_packs`), a student signed in with a PIN. A module imports the fixtures by name:
`from .browserday import new_page, sample_packs  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import re

import pytest

from tests.browsertesting import expect, pages_at

LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
def new_page(lan_browser, live_server):
    with pages_at(lan_browser, live_server.replace("127.0.0.1", "school.test"), timeout_ms=15_000) as make:
        yield lambda locale="ru-RU", viewport=LAPTOP: make(locale=locale, viewport=viewport)


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
