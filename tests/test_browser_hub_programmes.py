"""Real Chromium on the hub's pilot programme pages, the operator's account page and the Excel
download (issue 16), at http://hub.test:<port>/ (not loopback, not a secure context): a region operator
on a 360 px phone, in Russian, makes a programme with matched comparison schools, reads its estimate
and plan, sets an address for the weekly digest and downloads the learning workbook; axe-core finds
nothing on any page, nothing scrolls sideways, and no request leaves the hub."""
from __future__ import annotations

import io

import openpyxl
import pytest

from .browsertesting import expect, hub_phone
from .hubtesting import hub_database_url  # noqa: F401  (fixtures)
from .hubworld import PASSWORD
from .hubworld import aggregates, hub, sent, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_a_region_operator_makes_a_programme_on_a_phone(hub, world, sent, aggregates):  # noqa: F811
    with hub_phone(hub) as (base, page, check):
        page.goto(base + "/ops/login")
        page.get_by_label("Имя").fill("aktobe")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()
        page.get_by_role("link", name="Пилотные программы").click()
        expect(page.locator("h1")).to_have_text("Пилотные программы")
        check("programmes page, none yet")
        page.get_by_label("Название программы").fill("Математика с тьютором")
        page.get_by_label("Предметы (как в пакетах, через запятую)").fill("mathematics")
        page.get_by_label("Классы (через пробел или запятую)").fill("5")
        page.get_by_label("Начало (ГГГГ-ММ-ДД)").fill("2026-03-01")
        page.get_by_label("Пилотные школы (идентификаторы через пробел или запятую)").fill("KZ-1")
        page.get_by_role("button", name="Создать программу").click()
        expect(page.get_by_role("alert")).to_contain_text("укажите контрольные школы или подберите их по реестру")
        check("programmes page with an error")
        page.get_by_label("Подобрать по реестру: область, село или город, язык обучения, размер").check()
        page.get_by_label("План: активных учеников на пилотную школу в неделю").fill("5")
        page.get_by_role("button", name="Создать программу").click()
        expect(page.locator("h1")).to_have_text("Математика с тьютором")
        expect(page.locator("#programme-schools tbody tr")).to_have_count(2)  # the pilot and its match
        expect(page.locator("#programme-schools")).to_contain_text("Kargaly 2")
        expect(page.locator("#plan")).to_be_visible()
        check("programme page")
        page.get_by_role("link", name="Пилотные программы").click()
        expect(page.locator("#programmes")).to_contain_text("Математика с тьютором")
        check("programmes page with one")

        page.get_by_role("link", name="Моя учётная запись").click()
        page.get_by_label("Адрес электронной почты").fill("aktobe@edu.test")
        page.get_by_label("Присылать мне недельную сводку по электронной почте").check()
        page.get_by_role("button", name="Сохранить").click()
        expect(page.get_by_role("status")).to_have_text("Сохранено.")
        check("account page")

        page.get_by_role("link", name="Результаты обучения").click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Скачать в Excel (.xlsx)").click()
        book = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
        assert book.sheetnames[0] == "По предметам и классам"
        check("learning page with its Excel link")
