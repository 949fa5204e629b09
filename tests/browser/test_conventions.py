"""What every page shares, in a real browser: Chinese on a first visit, English by the switch and remembered across pages
and visits, red up / green down switchable and remembered, a favicon, and at 390 px no page, table or panel scrolls
sideways and no button is smaller than a thumb (44 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Site

pytestmark = pytest.mark.integration
# no new request answered for a second but the status page's own heartbeat (/health each second) and its event stream:
# the page has drawn what its first calls brought
QUIET = """() => { const n = performance.getEntriesByType('resource').filter((r) => !/[/](health|events)([?]|$)/.test(r.name)).length;
  if (window.__seen !== n) { window.__seen = n; window.__since = Date.now(); return false; }
  return Date.now() - window.__since > 1000; }"""
SCROLLS_SIDEWAYS = """() => [...document.querySelectorAll('*')]
  .filter((e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
  .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"""
PAST_THE_EDGE = """() => [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${e.textContent.slice(0, 40)}`)"""
PAGES = ("/", "/trade", "/config", "/job/o0123456789abcdef")
TOO_SMALL = """() => [...document.querySelectorAll('button, a.btn, .nav-link')]
  .filter((b) => b.offsetParent !== null && b.getBoundingClientRect().height < 44)
  .map((b) => `${b.id || b.className}: ${b.getBoundingClientRect().height.toFixed(0)} px`)"""


def test_chinese_first_english_by_a_remembered_switch_and_the_colours_of_a_rise(site: Site, new_page):
    page = new_page(lang="")  # a first visit: no language chosen yet
    page.goto(f"{site.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("button[type=submit]")).to_have_text("登录")
    site.log_in(page, "admin")
    expect(page.locator("nav")).to_contain_text("状态")
    expect(page.locator("#vital-worker .vital-state")).not_to_have_text("…")
    icon = page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then((r) => [r.status, r.headers.get('content-type')])")
    assert icon[0] == 200 and icon[1].startswith("image/svg+xml")

    page.click(".lang-switch")  # English, on the page it was chosen on
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{site.url}/")
    page.goto(f"{site.url}/trade")
    expect(page.locator("nav")).to_contain_text("Trade")
    later = page.context.new_page()  # another visit of the same browser
    later.goto(f"{site.url}/config")
    expect(later.locator("nav")).to_contain_text("Config")

    arrow = page.locator("#colour-switch .trend-up")
    red = arrow.evaluate("(a) => getComputedStyle(a).color")
    page.click("#colour-switch")  # green up, remembered in this browser
    expect(page.locator("body")).to_have_class("green-up")
    assert arrow.evaluate("(a) => getComputedStyle(a).color") != red
    later.reload()
    expect(later.locator("body")).to_have_class("green-up")
    later.click(".lang-switch")
    expect(later.locator("html")).to_have_attribute("lang", "zh-CN")
    site.shoot(later, "config-zh-green-up")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_at_390_px_no_page_scrolls_sideways_and_every_button_takes_a_thumb(site: Site, new_page, lang):
    resting = site.http.post("/qmt/trade/api/buy", {"trader_index": 0, "symbol": "600000", "price": 9.9, "shares": 100}).body["job_id"]
    site.http.post("/qmt/trade/api/buy", {"trader_index": 0, "symbol": "000001", "price": 11.0, "shares": 200})  # fills
    page = new_page(PHONE["width"], PHONE["height"], lang=lang)
    site.log_in(page, "admin")
    for path in (*PAGES, f"/job/{resting}"):  # the tables have rows: a resting order, a filled one
        page.goto(f"{site.url}{path}")
        page.wait_for_function(QUIET, polling=200)  # the long poll of the events never lets the network idle
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} ({lang}) is {width} px wide at a 390 px phone: {page.evaluate(PAST_THE_EDGE)}"
        assert page.evaluate(SCROLLS_SIDEWAYS) == [], f"{path} ({lang}): a table or panel scrolls sideways at 390 px"
        assert page.evaluate(TOO_SMALL) == [], f"{path} ({lang}): buttons under 44 px tall"
