"""The web pages in a real browser against real processes: a trader trades and cancels from the pages and watches jobs end
without reloading, an admin changes a risk limit the signed API then enforces, the kill switch and a stale worker
are impossible to miss on the status page, and the login page says when to try again after too many failures."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from common.store import keys
from tests.browser.conftest import TRADER_PASSWORD, Site, visible_text

pytestmark = pytest.mark.integration
BUY = {"trader_index": 0, "symbol": "600000", "price": 10.0, "shares": 100}


def place(page, symbol: str, amount: str, price: str, side: str = "23") -> None:
    page.fill("#f-symbol", symbol)
    page.select_option("#f-side", side)
    page.fill("#f-amount", amount)
    page.fill("#f-price", price)
    page.click("#place-order")


def test_a_trader_trades_from_the_pages_and_sees_jobs_end_without_reload(site: Site, new_page):
    status = new_page()
    site.log_in(status, "trader")
    expect(status.locator("#vital-worker .vital-state")).to_have_text("Alive")
    expect(status.locator("#vital-kill-switch .vital-state")).to_have_text("Off")
    expect(status.locator("#connections [data-connected=true]")).to_have_count(2)
    expect(status.locator("#alerts [role=alert]")).to_have_count(0)
    expect(status.locator("nav")).not_to_contain_text("Config")  # no link to what a trader may not open
    expect(status.locator("#live-state")).to_have_text("● live")

    trade = status.context.new_page()  # a second tab of the same login
    trade.goto(f"{site.url}/trade")
    place(trade, "600000", "150", "9.90")  # 150 is not a lot of 100: refused at the door, shown at the field
    expect(trade.locator("#f-amount")).to_have_class(re.compile("is-invalid"))
    expect(trade.locator("#f-amount ~ .invalid-feedback")).to_contain_text("lot")
    place(trade, "600000", "100", "9.90")  # below the 10.00 quote: rests open
    resting = trade.locator(".placed-job").first
    expect(resting.locator(".job-status")).to_have_text("finished")
    expect(resting.locator(".outcome")).to_contain_text("submitted")
    place(trade, "000001", "200", "11.00")  # at the quote: filled
    filled = trade.locator(".placed-job").first
    expect(filled.locator(".job-status")).to_have_text("finished")
    expect(trade.locator("#orders .order-row.open")).to_have_count(1)
    expect(trade.locator("#f-amount")).not_to_have_class(re.compile("is-invalid"))

    # the status page, never reloaded, shows both jobs, the fill and the open order
    expect(status.locator("#jobs .job-row")).to_have_count(2)
    expect(status.locator("#jobs .job-row .job-status").first).to_have_text("finished")
    expect(status.locator("#account-0 .trades .trade-row")).to_have_count(1)
    expect(status.locator("#account-0 .trades")).to_contain_text("000001.SZ")
    expect(status.locator("#account-0 .orders .order-row")).to_have_count(2)
    site.shoot(trade, "trade")

    trade.click("#cancel-buys")  # one cancel job per account
    expect(trade.locator(".placed-job .job-status[data-status=finished]")).to_have_count(4)
    expect(trade.locator("#orders .order-row.open")).to_have_count(0)
    expect(status.locator("#account-0 .orders")).to_contain_text("cancel")
    expect(status.locator("#jobs .job-row")).to_have_count(4)
    site.shoot(status, "status")

    status.locator("#jobs .job-row a").last.click()  # the oldest: the resting buy
    expect(status.locator("#job-detail .job-status")).to_have_text("finished")
    expect(status.locator("#job-detail .job-json")).to_contain_text('"outcome": "submitted"')
    site.shoot(status, "job")

    refused = trade.goto(f"{site.url}/config")
    assert refused is not None and refused.status == 403
    expect(trade.locator("#refused")).to_contain_text("admin")
    site.shoot(trade, "config-refused-to-trader")
    denied = trade.evaluate("api('PUT', '/risk', {max_order_notional: 1})")  # the page's own fetch, token and all: still no
    assert denied["status"] == 403


def test_an_admin_changes_a_risk_limit_that_the_signed_api_then_enforces(site: Site, new_page):
    assert site.http.post("/qmt/trade/api/buy", {**BUY, "strategy_name": "before"}).status == 202
    page = new_page()
    site.log_in(page, "admin")
    held = []  # the page's first GET /routines is held back, so its answer comes after the admin has typed
    page.route(re.compile(r".*/routines$"), lambda route: held.append(route) if not held else route.continue_())
    page.click("nav >> text=Config")
    expect(page.locator("#r-notional")).not_to_have_value("")
    page.fill("#r-second", "-1")
    page.click("#save-risk")
    expect(page.locator("#r-second")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#r-second ~ .invalid-feedback")).to_contain_text("Enter a whole number from 0 to 10,000")
    page.fill("#r-second", "20")
    page.fill("#r-notional", "500")
    page.click("#save-risk")
    expect(page.locator("#messages")).to_contain_text("Risk limits saved")
    expect(page.locator("#changes .change").first).to_contain_text("admin")
    expect(page.locator("#changes .change").first).to_contain_text("Largest order: 1,000,000 yuan → 500 yuan")

    refused = site.http.post("/qmt/trade/api/buy", {**BUY, "strategy_name": "after"})  # 1,000 yuan over the 500 cap
    assert refused.status == 403 and "500" in refused.body["error"], refused.body

    page.click("#routines-advanced summary")  # the routines as JSON, folded under the forms
    page.fill("#routines-json", '[{"name": "nhg-daily", "kind": "nhg", "time": "16:00"}]')  # after the repo session
    page.click("#save-routines")
    expect(page.locator("#routines-json")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#routines-json ~ .invalid-feedback")).to_contain_text("outside the session")
    typed = '[{"name": "nhg-daily", "kind": "nhg", "time": "14:57", "enabled": false}]'
    page.fill("#routines-json", typed)
    held[0].continue_()  # the late answer of the page's first load lists no routines...
    expect(page.locator("#routine-forms")).to_contain_text("no routines")
    expect(page.locator("#routines-json")).to_have_value(typed)  # ...and leaves what the admin typed alone
    page.click("#save-routines")
    expect(page.locator("#routine-forms")).to_contain_text("nhg-daily")
    expect(page.locator("#changes .change").first).to_contain_text("nhg-daily")
    site.shoot(page, "config")


def test_typing_a_limit_before_the_page_has_loaded_them_keeps_the_block_list(site: Site, new_page):
    page = new_page()
    site.log_in(page, "admin")
    page.click("nav >> text=Config")
    expect(page.locator("#r-notional")).not_to_have_value("")
    page.fill("#r-blocked", "600000")
    page.click("#save-risk")
    expect(page.locator("#r-blocked")).to_have_value("600000.SH")

    held = []  # the next GET /risk is held back until the admin has typed a cap
    page.route(re.compile(r".*/risk$"), lambda route: held.append(route) if not held else route.continue_())
    page.reload()
    page.fill("#r-notional", "700")
    held[0].continue_()
    expect(page.locator("#r-blocked")).to_have_value("600000.SH")  # filled by the late answer: the admin never typed there
    expect(page.locator("#r-notional")).to_have_value("700")  # what the admin typed stays
    page.click("#save-risk")
    expect(page.locator("#messages")).to_contain_text("Risk limits saved")
    expect(page.locator("#changes .change").first).to_contain_text("Largest order")
    expect(page.locator("#changes .change").first).not_to_contain_text("Blocked codes")
    page.reload()
    expect(page.locator("#r-blocked")).to_have_value("600000.SH")


def test_a_thrown_kill_switch_a_stale_worker_and_an_unknown_calendar_are_impossible_to_miss(site: Site, new_page, real_redis):
    status = new_page()
    site.log_in(status, "trader")
    expect(status.locator("#vital-kill-switch")).to_have_attribute("data-level", "ok")
    trade = status.context.new_page()
    trade.goto(f"{site.url}/trade")
    trade.click("#kill-switch")
    expect(trade.locator("#kill-switch-confirm")).to_be_visible()  # nothing happens before the confirmation
    assert site.http.get("/qmt/trade/api/risk/kill_switch").body["on"] is False
    trade.click("#kill-switch-yes")
    expect(trade.locator("#kill-switch-state")).to_contain_text("Kill switch is ON")

    # the status page, open all along, shows it in colour and words without a reload
    expect(status.locator("#alerts [data-alert=kill-switch]")).to_contain_text("KILL SWITCH IS ON")
    expect(status.locator("#vital-kill-switch")).to_have_attribute("data-level", "bad")
    expect(status.locator("#vital-kill-switch .vital-state")).to_contain_text("trading halted")
    assert site.http.post("/qmt/trade/api/buy", BUY).status == 423

    site.roles.stop("worker")
    expect(status.locator("#alerts [data-alert=worker]")).to_contain_text("STALE", timeout=30_000)
    expect(status.locator("#vital-worker")).to_have_attribute("data-level", "bad")
    expect(status.locator("#connections")).to_contain_text("UNKNOWN: worker stale")  # what it last wrote is no longer known

    site.roles.stop("scheduler")  # it would publish its own verdict again within a second
    unknown = {"today": "2031-01-02", "session": None, "source": "none", "data_ends": "2026-12-31", "warning": "no calendar data past 2026-12-31"}
    real_redis.set(keys.CALENDAR_STATUS, json.dumps(unknown))
    expect(status.locator("#alerts [data-alert=calendar]")).to_contain_text("Trading calendar UNKNOWN for 2031-01-02")
    expect(status.locator("#vital-calendar")).to_have_attribute("data-level", "bad")
    site.shoot(status, "status-problems")
    assert "rgb(" in status.eval_on_selector("#alerts [data-alert=worker]", "e => getComputedStyle(e).backgroundColor")

    admin = new_page()
    site.log_in(admin, "admin")
    admin.goto(f"{site.url}/config")
    admin.click("#release-kill-switch")
    expect(admin.locator("#kill-switch-state")).to_contain_text("Kill switch is off")
    expect(admin.locator("#changes .change").first).to_contain_text("released")
    expect(status.locator("#alerts [data-alert=kill-switch]")).to_have_count(0)


def test_the_login_page_says_when_to_try_again_after_ten_wrong_passwords(site: Site, new_page):
    page = new_page()
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login")
    site.shoot(page, "login")
    for attempt in range(1, 12):
        page.fill("#password", "not-the-password")
        with page.expect_navigation() as navigation:
            page.click("button[type=submit]")
        answer = navigation.value
        if attempt <= 10:
            assert answer.status == 401
            expect(page.locator("#login-message")).to_have_text("Wrong username or password.")
    assert answer.status == 429 and 250 <= int(answer.headers["retry-after"]) <= 300
    message = visible_text(page, "#login-message")
    assert re.search(r"Try again in 4 min \d+ s \(after \d\d:\d\d:\d\d Beijing time\)", message), message
    site.shoot(page, "login-locked")
    page.fill("#password", TRADER_PASSWORD)  # the right password is refused too until the window ends
    page.click("button[type=submit]")
    expect(page.locator("#login-message")).to_contain_text("Too many failed logins")
