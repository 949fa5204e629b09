"""The job page as a trader reads it, in a real browser against real processes: an order a signing client placed, shown
with what was asked, each state with its time in the order it happened, the broker's answer and the order it became
(its number, fill price and fills); an order the broker rejected, with the broker's own reason; a resting order's
cancel appearing on its open page without a reload. Chinese first, English by the switch; a phone never scrolls sideways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Site, visible_text
from tests.support import wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
MARKET_BUY = {"trader_index": 0, "symbol": "000001", "price": 0, "shares": 200, "price_type": 5, "strategy_name": "job-page"}
UNHELD_SELL = {"trader_index": 0, "symbol": "510300", "price": 4.0, "shares": 100}  # the account holds none: the broker refuses it
RESTING_BUY = {"trader_index": 0, "symbol": "600000", "price": 9.9, "shares": 100}  # below the 10.00 quote: rests open


def place(site: Site, side: str, body: dict) -> dict:
    """Place an order as an old client would and wait for its job to end; its view then."""
    answer = site.http.post(f"{API}/{side}", body)
    assert answer.status == 202, answer.body
    job_id = answer.body["job_id"]
    views: list[dict] = []
    ended = wait_until(lambda: views.append(site.http.get(f"{API}/jobs/{job_id}").body) or views[-1]["status"] not in ("queued", "started"), 20)
    assert ended, views[-1]
    return views[-1]


def open_job(site: Site, new_page, job_id: str, lang: str = ""):
    page = new_page(lang=lang)
    site.log_in(page, "trader")
    page.goto(f"{site.url}/job/{job_id}")
    return page


def no_sideways_scroll(page) -> None:
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_a_filled_market_order_tells_what_was_asked_each_state_in_order_and_its_fill(site: Site, new_page):
    job = place(site, "buy", MARKET_BUY)
    order_id = job["result"]["order_id"]
    page = open_job(site, new_page, job["job_id"])  # a first visit: Chinese
    expect(page.locator("#job-answer .job-answer")).to_have_attribute("data-outcome", "submitted")
    expect(page.locator("#job-answer")).to_contain_text(f"券商已受理，委托号 {order_id}")
    asked = page.locator("#job-asked")
    for words in ("下单", "main (SIM***001)", "000001.SZ", "买入", "200 股", "市价", "对手方最优", "job-page", "test-client"):
        expect(asked).to_contain_text(words)
    expect(asked).to_contain_text(re.compile(r"受理时间\s*\d\d-\d\d \d\d:\d\d:\d\d"))

    expect(page.locator("#job-timeline [data-stage=filled]")).to_have_count(1)
    expect(page.locator("#job-timeline [data-stage=ended]")).to_have_count(1)
    steps = page.eval_on_selector_all("#job-timeline .job-step", "steps => steps.map(s => [s.dataset.stage, Number(s.dataset.ts), s.innerText])")
    times = {stage: ts for stage, ts, _ in steps}
    assert times["accepted"] < times["started"] < times["sent"] < times["filled"], steps
    assert [ts for _, ts, _ in steps] == sorted(ts for _, ts, _ in steps), steps  # each state in the order it happened
    assert all(re.search(r"\d\d:\d\d:\d\d", text) for _, _, text in steps), steps  # each with its time, Beijing time
    expect(page.locator("#job-timeline [data-stage=sent]")).to_contain_text(re.compile(rf"已报送券商\s+委托 {order_id}"), use_inner_text=True)
    expect(page.locator("#job-timeline [data-stage=filled]")).to_contain_text(re.compile(r"券商回报：已成\s+成交 200 @ 11.00"), use_inner_text=True)

    order = page.locator("#job-order")
    expect(order.locator(".job-order-id")).to_have_text(str(order_id))
    expect(order.locator(".job-order-state")).to_have_text("已成")
    expect(order.locator(".job-fill-price")).to_have_text("11.00")
    expect(order.locator("table tbody tr")).to_have_count(1)  # the fill, linked to its order
    expect(order.locator("table tbody tr")).to_contain_text("2,200.00")
    expect(page.locator("#job-detail details")).not_to_have_attribute("open", "")  # the raw JSON stays closed at the bottom
    expect(page.locator("#job-json")).to_contain_text('"outcome": "submitted"')
    expect(page.locator("#job-json")).to_contain_text('"account_id": "SIM***001"')  # the account number never reaches the page whole
    no_sideways_scroll(page)
    site.shoot(page, "job-filled")

    english = open_job(site, new_page, job["job_id"], lang="en")
    expect(english.locator("#job-answer")).to_contain_text(f"Accepted by the broker as order {order_id}")
    for words in ("Place an order", "200 shares", "market", "counterparty's best"):
        expect(english.locator("#job-asked")).to_contain_text(words)
    expect(english.locator("#job-timeline [data-stage=filled]")).to_contain_text("Broker: filled")
    assert visible_text(english, "#job-order .job-order-state") == "filled"


def test_a_rejected_order_shows_the_brokers_reason_and_a_resting_orders_cancel_appears_live(site: Site, new_page):
    rejected = place(site, "sell", UNHELD_SELL)
    assert rejected["result"]["outcome"] == "rejected", rejected
    page = open_job(site, new_page, rejected["job_id"])
    answer = page.locator("#job-answer .job-answer")
    expect(answer).to_have_attribute("data-outcome", "rejected")
    expect(answer).to_contain_text("券商拒绝（废单）：可用股份不足")  # the broker's own words
    expect(page.locator("#job-timeline [data-stage=rejected]")).to_contain_text("可用股份不足")
    expect(page.locator("#job-order .job-order-state")).to_have_text("废单")
    expect(page.locator("#job-asked")).to_contain_text("卖出")
    expect(page.locator("#job-asked")).to_contain_text("4.000 限价")  # a fund's price, to its 0.001 tick
    no_sideways_scroll(page)
    site.shoot(page, "job-rejected")

    resting = place(site, "buy", RESTING_BUY)
    page.goto(f"{site.url}/job/{resting['job_id']}")
    expect(page.locator("#job-order .job-order-state")).to_have_text("已报")
    expect(page.locator("#job-order")).to_contain_text("暂无成交")
    cancel = {"trader_index": 0, "order_id": resting["result"]["order_id"]}
    cancelling = site.http.post(f"{API}/cancel_order", cancel)
    assert cancelling.status == 202, cancelling.body
    expect(page.locator("#job-order .job-order-state")).to_have_text("已撤")  # never reloaded: its events are followed
    expect(page.locator("#job-timeline [data-stage=cancelled]")).to_contain_text("券商回报：已撤")

    page.goto(f"{site.url}/job/{cancelling.body['job_id']}")  # the cancel's own page: what it asked and what came of it
    expect(page.locator("#job-answer .job-answer")).to_have_attribute("data-outcome", "submitted")
    expect(page.locator("#job-answer")).to_contain_text("撤单已报：撤 1 笔")
    expect(page.locator("#job-asked")).to_contain_text(f"撤销委托 {cancel['order_id']}")
