"""The trade page in a real browser against real processes, as a trader uses it: every order the API has placed from the
page and found at the simulator, each previewed with the simulator's own quote, large ones confirmed (and nothing sent
when the trader says no), refusals in a trader's words next to their field, Chinese first, and a phone that shows the
orders' key columns and their cancel without scrolling sideways."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from common.rules.sizing import Fees
from tests.browser.conftest import PHONE, Site
from tests.support import SIM_PRICES, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"


def fill_order(page, symbol: str, amount: str = "", price: str = "", side: str = "23", sizing: str = "volume", account: str = "0") -> None:
    page.select_option("#f-account", account)
    page.select_option("#f-sizing", sizing)
    page.select_option("#f-side", side)
    page.fill("#f-symbol", symbol)
    if amount:
        page.fill("#f-amount", amount)
    page.fill("#f-price", price)


def placed(page):
    return page.locator(".placed-job")


def last_job_ends(page, count: int, status: str = "finished") -> None:
    """The page has sent `count` jobs and the newest has ended with `status`."""
    expect(placed(page)).to_have_count(count)
    expect(placed(page).first.locator(".job-status")).to_have_attribute("data-status", status)


def orders(site: Site, trader_index: int) -> list[dict]:
    answer = site.http.post(f"{API}/orders", {"trader_index": trader_index})
    assert answer.status == 200, answer.body
    return answer.body["orders"]


def test_every_order_kind_goes_from_the_page_to_the_simulator_previewed_and_confirmed_in_chinese(site: Site, new_page):
    page = new_page(lang="")  # a first visit: Chinese
    site.log_in(page, "trader")
    page.goto(f"{site.url}/trade")
    expect(page.locator("#place-order")).to_have_text("买入")
    expect(page.locator("#f-side option[value='24']")).to_have_text("卖出")
    expect(page.locator("#f-price-type option[value='5']")).to_have_text("市价：对手方最优价格")

    # shares, twice below the 10.00 quote: both rest open
    fill_order(page, "600000", "100", "9.90")
    page.click("#place-order")
    last_job_ends(page, 1)
    fill_order(page, "600000", "100", "9.80")
    page.click("#place-order")
    last_job_ends(page, 2)
    expect(page.locator("#orders .order-row.open")).to_have_count(2)
    expect(page.locator("#orders .order-row.open").first).to_contain_text("已报")

    # a phone: code, side, price, quantity, state and the cancel stay on screen, nothing scrolls sideways
    page.set_viewport_size(PHONE)
    page.locator("#orders").scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.eval_on_selector("#orders", "box => box.scrollWidth <= box.clientWidth")
    row = page.locator("#orders .order-row.open").first
    for cell in range(6):  # code, side, price, quantity (and filled), state, cancel
        box = row.locator("td").nth(cell).bounding_box()
        assert box and box["width"] > 0 and box["x"] + box["width"] <= PHONE["width"], (cell, box)
    assert row.locator("td").nth(6).is_hidden()  # the time, account and order number wait for a wider screen
    for button in ("#place-order", "#preview-order", "#nhg-place", "#cancel-buys", "#orders .cancel-order >> nth=0"):
        assert page.locator(button).bounding_box()["height"] >= 44, button
    site.shoot(page, "trade-open-orders-zh")  # leaves the desktop width

    # cancel one (the 9.90 buy), then cancel all buys on each account
    resting = next(o for o in orders(site, 0) if o["price"] == 9.9)
    page.click(f"#orders .order-row[data-order-id='{resting['order_id']}'] .cancel-order")
    last_job_ends(page, 3)
    expect(placed(page).first).to_contain_text(f"撤单 {resting['order_id']}")
    expect(page.locator("#orders .order-row.open")).to_have_count(1)
    page.click("#cancel-buys")
    expect(placed(page)).to_have_count(5)  # one cancel per account
    expect(page.locator(".placed-job .job-status[data-status=finished]")).to_have_count(5)
    expect(page.locator("#orders .order-row.open")).to_have_count(0)

    # a percent over 100 is refused at the field before anything is sent
    fill_order(page, "000001", "150", sizing="position_pct")
    page.click("#place-order")
    expect(page.locator("#f-amount ~ .invalid-feedback")).to_have_text("比例不能超过 100%")
    expect(placed(page)).to_have_count(5)

    # 10% of the account is about 99,000 yuan: over the 50,000 threshold, so it is confirmed first; "no" sends nothing
    fill_order(page, "000001", "10", sizing="position_pct")
    page.click("#place-order")
    dialog = page.locator("#confirm-order")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-why")).to_contain_text("50,000.00")
    expect(dialog.locator(".p-volume")).to_have_text("9,000 股 (90 手)")
    expect(dialog.locator(".p-notional")).to_have_text("99,000.00")
    site.shoot(page, "trade-confirm-zh")
    page.click("#confirm-no")
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages")).to_contain_text("未发送")
    expect(placed(page)).to_have_count(5)
    assert not [o for o in orders(site, 0) if o["symbol"] == "000001.SZ"]
    page.click("#place-order")
    page.click("#confirm-yes")
    last_job_ends(page, 6)
    expect(placed(page).first.locator(".outcome")).to_contain_text("成交 9,000，均价 11.00")

    # all in on the second account, at a limit price: always confirmed
    fill_order(page, "510300", price="4.000", sizing="allin", account="1")
    expect(page.locator("#place-order")).to_have_text("全仓买入")
    page.click("#place-order")
    expect(dialog.locator("#confirm-why")).to_contain_text("全部可用资金")
    page.click("#confirm-yes")
    last_job_ends(page, 7)

    # reverse repo: lend the first account's idle cash but 800,000 yuan
    page.select_option("#nhg-account", "0")
    page.fill("#nhg-reserve", "800000")
    page.click("#nhg-place")
    expect(dialog.locator("#confirm-summary")).to_contain_text("国债逆回购")
    expect(dialog.locator(".p-notional")).to_have_text("100,000.00")  # (900,974.26 cash - 800,000) in steps of 1,000 yuan
    page.click("#confirm-yes")
    last_job_ends(page, 8)

    first, second = orders(site, 0), orders(site, 1)
    kinds = {(o["symbol"], o["side"], o["status"]) for o in first}
    assert ("600000.SH", "buy", "cancelled") in kinds and ("000001.SZ", "buy", "filled") in kinds, first
    assert [o["volume"] for o in first if o["symbol"] == "000001.SZ"] == [9000]
    [repo] = [o for o in first if o["symbol"] == "131810.SZ"]
    assert repo["side"] == "sell" and repo["volume"] * 100 <= 1_000_000 - 99_000 - 800_000 + 100  # cash less the reserve
    [allin] = [o for o in second if o["symbol"] == "510300.SH"]
    assert allin["side"] == "buy" and allin["volume"] * 4.0 > 990_000  # nearly the whole million

    # a preview open, for the screenshots
    fill_order(page, "600000", "200", "10.00")
    page.click("#preview-order")
    expect(page.locator("#preview .p-notional")).to_have_text("2,000.00")
    expect(page.locator("#preview .p-limit")).to_contain_text("单笔上限 1,000,000 元：本单占 0.20%")
    site.shoot(page, "trade-preview-zh")

    # the next day the 000001 bought is sellable: its holding's "sell all" sells all 9,000, confirmed
    admin = new_page()
    site.log_in(admin, "admin")
    rolled = admin.evaluate("api('POST', '/sim/next_day', {days: 1})")
    assert rolled["status"] == 202, rolled
    roll_job = rolled["data"]["job_id"]
    assert wait_until(lambda: admin.evaluate(f"api('GET', '/jobs/{roll_job}')")["data"]["status"] == "finished", 20)
    page.click("#refresh-orders")
    holding = page.locator("#positions .position-row[data-symbol='000001.SZ']")
    expect(holding).to_contain_text("9,000 / 9,000")
    holding.locator(".sell-all").click()
    expect(dialog.locator("#confirm-summary")).to_contain_text("全部卖出 000001.SZ")
    page.click("#confirm-yes")
    last_job_ends(page, 9)
    assert [(o["side"], o["volume"]) for o in orders(site, 0) if o["symbol"] == "000001.SZ"] == [("sell", 9000)]


def test_a_preview_shows_the_simulators_quote_and_the_worker_sizing_and_refusals_read_as_a_trader_reads_them(site: Site, new_page):
    prices = Path(site.roles.env["SIM_PRICES_FILE"])
    prices.write_text(json.dumps({**SIM_PRICES, "600000.SH": {"last": 10.37, "prev_close": 10.2}}), encoding="utf-8")
    page = new_page(lang="en")
    site.log_in(page, "trader")
    page.goto(f"{site.url}/trade")
    fill_order(page, "600000", "500", "10.36")  # the preview comes as the trader types
    preview = page.locator("#preview")
    expect(preview.locator(".p-notional")).to_have_text("5,180.00")

    body = {"trader_index": 0, "symbol": "600000", "order_type": 23, "volume": 500, "price": 10.36, "price_type": 0, "strategy_name": "web"}
    same = site.http.post(f"{API}/preview/trade", body)
    assert same.status == 200, same.body
    quote = same.body["preview"]["quote"]
    assert (quote["last"], quote["bid"], quote["ask"], quote["prev_close"]) == (10.37, 10.37, 10.37, 10.2)  # the file's quote
    assert (quote["up_limit"], quote["down_limit"]) == (11.22, 9.18)  # ±10% of 10.20, on the tick
    expect(preview.locator(".preview-quote")).to_contain_text("Last 10.37 +1.67%")
    expect(preview.locator(".q-bid")).to_have_text("10.37")
    expect(preview.locator(".q-ask")).to_have_text("10.37")
    expect(preview.locator(".q-up")).to_have_text("11.22")
    expect(preview.locator(".q-down")).to_have_text("9.18")
    expect(preview.locator(".p-volume")).to_have_text("500 shares (5 lots)")
    fees = Fees().buy_cost(500 * 10.36)
    assert fees == same.body["preview"]["fees"] == 5.05
    expect(preview.locator(".p-fees")).to_have_text(f"{fees:.2f}")

    page.select_option("#f-price-type", "5")  # a market order is priced at the day's upper limit, as its cash is frozen
    expect(page.locator("#f-price")).to_be_disabled()
    expect(preview.locator(".p-notional")).to_have_text("5,610.00")
    expect(preview.locator(".preview-order")).to_contain_text("upper limit")

    page.select_option("#f-price-type", "0")
    page.fill("#f-price", "10.36")
    page.fill("#f-amount", "150")  # not a lot of 100: the router's refusal, in a trader's words, at the field
    page.click("#place-order")
    expect(page.locator("#f-amount")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#f-amount ~ .invalid-feedback")).to_have_text("The quantity must be a whole number of lots of 100 shares")
    page.fill("#f-amount", "100")
    page.fill("#f-price", "10.365")  # off the tick: told before anything is asked
    page.click("#place-order")
    expect(page.locator("#f-price ~ .invalid-feedback")).to_have_text("The price must be a multiple of 0.01")
    assert placed(page).count() == 0 and orders(site, 0) == []
