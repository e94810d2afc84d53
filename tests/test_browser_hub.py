"""Real Chromium on the national hub's operator pages (issue 16), reached by a name that is not
loopback nor a secure context (http://hub.test:<port>/ mapped to 127.0.0.1): a district operator
signs in on a 360 px phone, reads the schools of their district in Russian and Kazakh, opens one,
creates a director, reads the audit log and signs out; axe-core finds nothing on any page, nothing
scrolls sideways, and no request leaves the hub."""
from __future__ import annotations

import pytest

from .browsertesting import expect, hub_phone
from .hubtesting import hub_database_url  # noqa: F401  (fixtures)
from .hubworld import PASSWORD
from .hubworld import hub, sent, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def test_a_district_operator_on_a_phone(hub, world, sent):  # noqa: F811
    with hub_phone(hub) as (base, page, check):
        page.goto(base + "/ops/")
        expect(page.locator("h1")).to_have_text("Войти")  # Russian from the browser's language
        check("sign-in page")
        page.get_by_label("Имя").fill("kargaly")
        page.get_by_label("Пароль").fill("not the password")
        page.get_by_role("button", name="Войти").click()
        expect(page.get_by_role("alert")).to_contain_text("Неверное имя или пароль")
        check("sign-in page with an error")
        page.get_by_label("Имя").fill("kargaly")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()
        expect(page.locator("h1")).to_have_text("Школы")
        rows = page.locator("#schools tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#schools")).to_contain_text("Kargaly 1")
        check("schools page, Russian")
        page.get_by_role("link", name="Қазақша").click()
        expect(page.locator("h1")).to_have_text("Мектептер")
        check("schools page, Kazakh")
        page.get_by_role("link", name="Оқу нәтижелері").click()
        expect(page.locator("#subjects")).to_contain_text("mathematics")
        expect(page.locator("section[aria-labelledby=h-growth] svg polyline")).to_have_count(3)  # the district, its region, the country
        expect(page.locator("#parts")).to_contain_text("%(count)d оқушыдан аз".replace("%(count)d", "5"))
        check("learning page")
        page.get_by_role("link", name="Ескертулер").click()
        expect(page.locator("h1")).to_have_text("Ескертулер")
        check("warnings page")
        page.get_by_role("link", name="Пилотты бағалау").click()
        page.get_by_label("Пилоттық мектептер (идентификаторлар, бос орын не үтір арқылы)").fill("KZ-1")
        page.get_by_label("Салыстырмалы мектептер").fill("KZ-2")
        page.get_by_label("Басталуы (YYYY-MM)").fill("2026-03")
        page.get_by_label("Пән").fill("mathematics")
        page.get_by_label("Сынып", exact=True).fill("5")
        page.get_by_role("button", name="Бағалау").click()
        expect(page.get_by_role("alert")).to_contain_text("кемінде 2 пилоттық және 2 салыстырмалы мектеп керек")  # translated
        check("pilot evaluation page with its answer")
        page.get_by_role("link", name="Мектептер").first.click()
        page.get_by_role("link", name="Kargaly 2").click()
        expect(page.locator("#school")).to_contain_text("Каргалинский")
        check("school page")
        page.get_by_role("link", name="Пайдаланушылар").click()
        check("users page")
        page.get_by_label("Аты", exact=True).fill("director2")
        page.get_by_label("Құпиясөз (кемінде 10 таңба)").fill("director password")
        page.get_by_label("Мектеп (директор үшін)").fill("KZ-2")
        page.get_by_role("button", name="Жасау").click()
        expect(page.get_by_role("status")).to_contain_text("director2")
        expect(page.locator("#users")).to_contain_text("director2")
        check("users page after creating a director")
        page.get_by_role("link", name="Әрекеттер журналы").click()
        expect(page.locator("#audit")).to_contain_text("user_create")
        check("audit log")
        page.get_by_role("button", name="Шығу").click()
        expect(page.locator("h1")).to_have_text("Кіру")
        page.goto(base + "/ops/schools.json")
        assert "unauthorized" in page.content()

