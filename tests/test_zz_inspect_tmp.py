from tests.test_browser import browser, new_page  # noqa
from tests.test_browser import sign_in_staff, PHONE

def test_inspect(new_page, school):
    page = new_page(viewport=PHONE)
    sign_in_staff(page, "boss")
    page.goto("/admin/")
    print(page.evaluate("""() => [...document.querySelectorAll('table th, table td, .columns, .columns > *, main')].map(el => el.tagName + ' ' + el.textContent.trim().slice(0,30) + ' ' + Math.round(el.getBoundingClientRect().left) + '-' + Math.round(el.getBoundingClientRect().right)).join('\\n')"""))
    page.locator("table").first.screenshot(path="/tmp/admin-table-360.png")
    sign_in_staff(page, "teacher") if False else None
