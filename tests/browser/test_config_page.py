"""The config page in a real browser against real processes, Chinese first: routines shown in the one state each is in
as the router's moved clock passes their times (missed, skipped while disabled, next run, running, done, skipped under
the kill switch, a forced run again), each edited as a form with its accounts chosen; risk limits refused next to the
field in a trader's words with nothing saved; the change history as "who · when · field: from → to"; and in English."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import pytest
from playwright.sync_api import expect

from common.config.clock import SHANGHAI
from common.desk import routine_runs
from tests.browser.conftest import PHONE, Site

pytestmark = pytest.mark.integration
FIRE = datetime(2026, 12, 1, 14, 57, 0, tzinfo=SHANGHAI)  # a Tuesday
DAY = "2026-12-01"
SWEEP = {"kind": "nhg", "reserve_amount": 5000}
ROUTINES = [
    {**SWEEP, "name": "nhg-daily", "time": "14:57:00", "accounts": [0]},  # walks: next -> running -> done -> forced again
    {**SWEEP, "name": "nhg-halt", "time": "14:57:15", "accounts": [1]},  # due while the kill switch is on: skipped
    {**SWEEP, "name": "nhg-gone", "time": "14:56:00", "accounts": [1]},  # its time passed before any scheduler started: missed
]
RISK = "/qmt/trade/api/risk"


@pytest.fixture
def moved_clock(role_env) -> None:
    """Every role's clock reads 14:56:30 on a trading day as they start (CLOCK_OFFSET_SECONDS); the grace is 5 s."""
    role_env.update(
        CLOCK_OFFSET_SECONDS=str(FIRE.timestamp() - 30 - time.time()),
        SIM_STARTING_CASH="105600",
        ROUTINE_GRACE_SECONDS="5",
        ROUTINES=json.dumps(ROUTINES),
    )


def card(page, name: str):
    return page.locator(f'.routine[data-saved="{name}"]')


def state(page, name: str):
    return card(page, name).locator(".routine-state")


def test_a_routine_walks_through_its_states_on_the_config_page(moved_clock, site: Site, new_page, real_redis):
    page = new_page(lang="zh")
    site.log_in(page, "admin")
    page.goto(f"{site.url}/config")
    expect(state(page, "nhg-daily")).to_have_attribute("data-kind", "next")
    expect(state(page, "nhg-daily")).to_contain_text("下次运行 12-01 14:57")
    expect(state(page, "nhg-gone")).to_have_attribute("data-kind", "missed")
    expect(state(page, "nhg-gone")).to_contain_text("已错过 12-01 14:56：当时调度程序未运行")
    expect(page.locator("#routines-calendar")).to_contain_text("今天 2026-12-01：交易日")

    # a routine added from the form after its time today: disabled, then enabled; never "missed"
    page.click("#add-routine")
    added = page.locator(".routine").last
    added.locator("[name=name]").fill("nhg-late")
    added.locator("[name=time]").fill("16:00")
    added.locator("[name=accounts-all]").uncheck()
    added.locator("[name=enabled]").uncheck()
    page.click("#save-routine-forms")  # refused on the page: after the session, and no account chosen
    expect(added.locator("[name=time] ~ .invalid-feedback")).to_contain_text("请选择交易时段内的时间：09:30-11:30, 13:00-15:30")
    expect(added.locator(".routine-accounts ~ .invalid-feedback")).to_contain_text("请至少选择一个账户")
    added.locator("[name=time]").fill("14:50")
    added.locator("[name=account][value='1']").check()
    page.click("#save-routine-forms")
    expect(page.locator("#messages")).to_contain_text("定时任务已保存")
    expect(state(page, "nhg-late")).to_contain_text("今日不运行：已停用")
    card(page, "nhg-late").locator("summary").click()
    card(page, "nhg-late").locator("[name=enabled]").check()
    page.click("#save-routine-forms")
    expect(state(page, "nhg-late")).to_contain_text("下次运行 12-02 14:50 · 保存时已过今日运行时间：从下一交易日开始运行")
    expect(page.locator("#changes .change").first).to_contain_text("修改定时任务 nhg-late：启用: 关 → 开")
    expect(page.locator("#changes .change").nth(1)).to_contain_text("新增定时任务 nhg-late")
    listed = {r["name"]: r for r in site.http.get("/qmt/trade/api/routines").body["routines"]}
    assert listed["nhg-late"]["accounts"] == [1] and listed["nhg-halt"]["time"] == "14:57:15"  # the form kept the seconds

    # 14:57: it fires, runs, and its outcome shows with its job
    expect(state(page, "nhg-daily")).to_have_attribute("data-kind", "ran", timeout=40_000)
    expect(state(page, "nhg-daily")).to_contain_text("完成：借出 100,000.00 元")
    [job_id] = routine_runs.read(real_redis, "nhg-daily", DAY).job_ids
    expect(state(page, "nhg-daily").locator(f'a[href="/job/{job_id}"]')).to_be_visible()

    # the kill switch thrown before 14:57:15: that routine is skipped, not fired into it
    assert site.http.post(f"{RISK}/kill_switch", {"on": True}).status == 200
    expect(page.locator("#kill-switch-state")).to_contain_text("紧急停止已开启")
    if routine_runs.read(real_redis, "nhg-halt", DAY) is None:  # its time not yet come (a slow machine may be past it)
        expect(state(page, "nhg-halt")).to_contain_text("紧急停止已开启：到时将不运行")
    expect(state(page, "nhg-halt")).to_have_attribute("data-kind", "skipped", timeout=30_000)
    expect(state(page, "nhg-halt")).to_contain_text("今日不运行：紧急停止已开启")
    assert routine_runs.read(real_redis, "nhg-halt", DAY).job_ids == []
    card(page, "nhg-daily").locator(".run-now").click()  # refused while the switch is on, the day not taken
    expect(card(page, "nhg-daily").locator(".routine-run-answer")).to_contain_text("未运行：紧急停止已开启，请先解除。")

    # released, "Run now" again: it already ran today, so only once the admin confirms it is forced
    page.click("#release-kill-switch")
    expect(page.locator("#kill-switch-state")).to_contain_text("紧急停止未开启")
    card(page, "nhg-daily").locator(".run-now").click()
    expect(card(page, "nhg-daily").locator(".routine-run-answer")).to_contain_text("nhg-daily 今天已运行过，要再运行一次吗？")
    card(page, "nhg-daily").locator(".run-again").click()
    expect(card(page, "nhg-daily").locator(".routine-run-answer")).to_contain_text("已开始：1 个任务")
    expect(state(page, "nhg-daily")).to_contain_text("（强制）")
    expect(state(page, "nhg-daily")).to_have_attribute("data-outcome", "no_op")  # the cash was lent by the first run
    expect(state(page, "nhg-daily")).to_contain_text("无需操作")
    forced = site.http.get("/qmt/trade/api/routines").body["routines"][0]["state"]
    assert (forced["kind"], forced["forced"], forced["outcome"]) == ("ran", True, "no_op")
    expect(state(page, "nhg-gone")).to_have_attribute("data-kind", "missed")  # still: nothing made it true since

    page.set_viewport_size(PHONE)  # "Run now" whole and thumb-sized on a phone
    box = card(page, "nhg-daily").locator(".run-now").bounding_box()
    assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    site.shoot(page, "config-routines")
    card(page, "nhg-daily").locator("summary").click()  # its form, open
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    site.shoot(page, "config-routine-form")


def test_a_refused_risk_limit_says_why_next_to_the_field_and_saves_nothing_and_the_history_reads_from_to(site: Site, new_page):
    page = new_page(lang="zh")
    site.log_in(page, "admin")
    page.goto(f"{site.url}/config")
    stored = lambda: page.evaluate("api('GET', '/risk').then((answer) => answer.data.limits)")  # noqa: E731  (what the router holds)
    before = stored()
    expect(page.locator("#r-notional")).to_have_value("1,000,000")
    feedback = page.locator("#r-notional ~ .invalid-feedback")
    for typed in ("", "1e400", "1e308", "-1", "abc"):
        page.fill("#r-notional", typed)
        page.click("#save-risk")
        expect(page.locator("#r-notional")).to_have_class(re.compile("is-invalid"))
        expect(feedback).to_contain_text("请输入 0 到 10,000,000,000 之间的金额（元）")
        expect(page.locator("#messages")).to_contain_text("未保存")
        expect(page.locator("#messages")).not_to_contain_text("已保存")
    page.fill("#r-notional", "1,000,000")
    page.fill("#r-second", "20000")
    page.click("#save-risk")
    expect(page.locator("#r-second ~ .invalid-feedback")).to_contain_text("请输入 0 到 10,000 之间的整数")
    expect(page.locator("#r-notional")).not_to_have_class(re.compile("is-invalid"))
    assert stored() == before  # nothing was sent
    refused = page.evaluate("api('PUT', '/risk', {max_order_notional: null})")  # and the API refuses what used to mean "no change"
    assert refused["status"] == 422 and refused["data"]["field"] == "max_order_notional", refused

    page.fill("#r-second", "20")
    page.fill("#r-notional", "50000")
    page.click("#save-risk")
    expect(page.locator("#messages")).to_contain_text("风控限额已保存。")
    expect(page.locator("#r-notional")).to_have_value("50,000")
    line = page.locator("#changes .change").first
    expect(line).to_have_text(re.compile(r"^admin · \d\d-\d\d \d\d:\d\d:\d\d · 单笔委托金额上限: 1,000,000 元 → 50,000 元$"))
    assert stored() == {**before, "max_order_notional": 50_000}
    site.shoot(page, "config")

    english = new_page(lang="en")
    site.log_in(english, "admin")
    english.goto(f"{site.url}/config")
    expect(english.locator("label[for=r-notional]")).to_have_text("Largest order")
    expect(english.locator("#changes .change").first).to_contain_text("Largest order: 1,000,000 yuan → 50,000 yuan")
    english.fill("#r-day", "1.5")
    english.click("#save-risk")
    expect(english.locator("#r-day ~ .invalid-feedback")).to_have_text("Enter a whole number from 0 to 1,000,000")
    expect(english.locator("#routine-forms")).to_have_text("no routines")
    expect(english.locator("#add-routine")).to_have_text("Add a routine")
