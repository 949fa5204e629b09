"""The simulator's exchange rules with concrete numbers (issue: the broker)."""

from __future__ import annotations

import pytest

from worker.xtquant_sdk import xtconstant as xc
from worker.xtquant_sdk import xttype

BUY, SELL = xc.STOCK_BUY, xc.STOCK_SELL


def place(trader, account, recorder, code, side, volume, price, price_type=xc.FIX_PRICE):
    order_id = trader.order_stock(account, code, side, volume, price_type, price, "test", "remark")
    assert order_id > 0
    return recorder.wait_for(
        "order",
        lambda o: (
            o.order_id == order_id
            and o.order_status != xc.ORDER_REPORTED
            or o.order_id == order_id
            and price_type == xc.FIX_PRICE
            and _resting(o, side, price, trader)
        ),
    )


def _resting(order, side, price, trader):
    last = trader.get_full_tick([order.stock_code])[order.stock_code]["lastPrice"]
    return (price < last) if side == BUY else (price > last)


def test_buying_150_shares_of_a_main_board_stock_is_rejected(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    order = place(trader, account, recorder, "600000.SH", BUY, 150, 10.0)
    assert order.order_status == xc.ORDER_JUNK and "委托数量不符合交易规则" in order.status_msg
    assert recorder.wait_for("order_error").order_id == order.order_id
    assert trader.query_stock_asset(account).cash == 1_000_000


def test_a_star_buy_of_201_is_accepted_and_199_is_not(trader, account, recorder):
    trader.set_price("688981.SH", 50.0)
    assert place(trader, account, recorder, "688981.SH", BUY, 201, 50.0).order_status == xc.ORDER_SUCCEEDED
    assert place(trader, account, recorder, "688981.SH", BUY, 199, 50.0).order_status == xc.ORDER_JUNK


def test_a_buy_costs_commission_with_its_minimum_and_transfer_fee(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    place(trader, account, recorder, "600000.SH", BUY, 1000, 10.0)
    # 10,000 yuan: commission max(2.50, 5.00) = 5.00, transfer 0.10, no stamp duty on a buy
    asset = trader.query_stock_asset(account)
    assert asset.cash == pytest.approx(1_000_000 - 10_000 - 5.10)
    assert asset.market_value == 10_000 and asset.total_asset == pytest.approx(999_994.90)
    [trade] = trader.query_stock_trades(account)
    assert (trade.traded_volume, trade.traded_price, trade.commission) == (1000, 10.0, 5.10)


def test_selling_todays_buy_is_rejected_and_allowed_the_next_trading_day(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    place(trader, account, recorder, "600000.SH", BUY, 1000, 10.0)
    position = trader.query_stock_position(account, "600000.SH")
    assert (position.volume, position.can_use_volume) == (1000, 0)
    rejected = place(trader, account, recorder, "600000.SH", SELL, 1000, 10.0)
    assert rejected.order_status == xc.ORDER_JUNK and "可用股份不足" in rejected.status_msg

    assert trader.roll_day() == "2026-11-25"
    assert trader.query_stock_position(account, "600000.SH").can_use_volume == 1000
    cash_before = trader.query_stock_asset(account).cash
    sold = place(trader, account, recorder, "600000.SH", SELL, 1000, 10.0)
    assert sold.order_status == xc.ORDER_SUCCEEDED
    # 10,000 yuan sold: commission 5.00, stamp duty 0.05% = 5.00, transfer 0.001% = 0.10 → 9,989.90
    assert trader.query_stock_asset(account).cash == pytest.approx(cash_before + 9_989.90)
    assert trader.query_stock_position(account, "600000.SH") is None


def test_daily_price_limits_per_board(trader, account, recorder):
    cases = [
        ("600000.SH", 10.0, 11.0, 11.01),
        ("300750.SZ", 100.0, 120.0, 120.01),
        ("920118.BJ", 10.0, 13.0, 13.01),
        ("688981.SH", 50.0, 60.0, 60.01),
    ]
    for code, close, up, beyond in cases:
        trader.set_price(code, close, prev_close=close)
        volume = 200 if code.startswith("688") else 100
        at_limit = place(trader, account, recorder, code, BUY, volume, up)
        assert at_limit.order_status == xc.ORDER_SUCCEEDED, (code, at_limit.status_msg)
        over = place(trader, account, recorder, code, BUY, volume, beyond)
        assert over.order_status == xc.ORDER_JUNK and "涨跌停" in over.status_msg, code


def test_a_price_off_the_tick_is_rejected(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    assert "最小变动价位" in place(trader, account, recorder, "600000.SH", BUY, 100, 10.005).status_msg
    trader.set_price("510300.SH", 4.0)
    assert place(trader, account, recorder, "510300.SH", BUY, 100, 4.001).order_status == xc.ORDER_SUCCEEDED  # funds: tick 0.001
    assert "最小变动价位" in place(trader, account, recorder, "510300.SH", BUY, 100, 4.0005).status_msg


def test_insufficient_cash_is_rejected_like_qmt(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    order = place(trader, account, recorder, "600000.SH", BUY, 100_100, 10.0)
    assert order.order_status == xc.ORDER_JUNK and "可用资金不足" in order.status_msg


def test_partial_fills_against_limited_volume_then_a_cancel_is_part_cancelled(trader, account, recorder):
    trader.set_price("600000.SH", 10.0, available=300)
    order_id = trader.order_stock(account, "600000.SH", BUY, 1000, xc.FIX_PRICE, 10.0, "", "")
    part = recorder.wait_for("order", lambda o: o.order_id == order_id and o.order_status == xc.ORDER_PART_SUCC)
    assert part.traded_volume == 300
    trader.set_price("600000.SH", 10.0, available=200)
    assert recorder.wait_for("order", lambda o: o.order_id == order_id and o.traded_volume == 500).order_status == xc.ORDER_PART_SUCC
    assert trader.cancel_order_stock(account, order_id) == 0
    ended = recorder.wait_for("order", lambda o: o.order_id == order_id and o.order_status == xc.ORDER_PART_CANCEL)
    assert ended.traded_volume == 500
    asset = trader.query_stock_asset(account)
    assert asset.frozen_cash == 0 and asset.cash == pytest.approx(1_000_000 - 5_000 - 5.10)  # the unfilled 500 released


def test_a_resting_order_fills_when_the_quote_moves_through_it_and_cancel_of_a_filled_order_fails(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    order_id = trader.order_stock(account, "600000.SH", BUY, 100, xc.FIX_PRICE, 9.9, "", "")
    assert recorder.wait_for("order", lambda o: o.order_id == order_id).order_status == xc.ORDER_REPORTED
    assert trader.query_stock_asset(account).frozen_cash == pytest.approx(990 + 5.01)
    assert [o.order_id for o in trader.query_stock_orders(account, True)] == [order_id]
    trader.set_price("600000.SH", 9.9)
    assert recorder.wait_for("order", lambda o: o.order_id == order_id and o.order_status == xc.ORDER_SUCCEEDED).traded_price == 9.9
    assert trader.query_stock_orders(account, True) == []
    assert trader.cancel_order_stock(account, order_id) == -1
    assert recorder.wait_for("cancel_error").order_id == order_id


def test_cancel_of_an_open_order(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    order_id = trader.order_stock(account, "600000.SH", BUY, 100, xc.FIX_PRICE, 9.5, "", "")
    assert trader.cancel_order_stock(account, order_id) == 0
    assert recorder.wait_for("order", lambda o: o.order_id == order_id and o.order_status == xc.ORDER_CANCELED)
    assert trader.query_stock_asset(account).cash == 1_000_000


@pytest.mark.parametrize(
    ("code", "price_type", "status"),
    [
        ("600000.SH", xc.MARKET_SH_CONVERT_5_CANCEL, xc.ORDER_SUCCEEDED),
        ("600000.SH", xc.MARKET_PEER_PRICE_FIRST, xc.ORDER_SUCCEEDED),
        ("600000.SH", xc.MARKET_SZ_CONVERT_5_CANCEL, xc.ORDER_JUNK),  # an SZ-only type on SH
        ("000001.SZ", xc.MARKET_SZ_CONVERT_5_CANCEL, xc.ORDER_SUCCEEDED),
        ("000001.SZ", xc.MARKET_SH_CONVERT_5_LIMIT, xc.ORDER_JUNK),  # an SH-only type on SZ
        ("000001.SZ", xc.LATEST_PRICE, xc.ORDER_SUCCEEDED),
    ],
)
def test_market_price_types_per_exchange_fill_at_the_quote(trader, account, recorder, code, price_type, status):
    trader.set_price(code, 10.0)
    order = place(trader, account, recorder, code, BUY, 100, 0, price_type)
    assert order.order_status == status, order.status_msg
    if status == xc.ORDER_SUCCEEDED:
        assert order.traded_price == 10.0


def test_best_five_then_cancel_cancels_what_it_cannot_fill(trader, account, recorder):
    trader.set_price("000001.SZ", 11.0, available=300)
    order = place(trader, account, recorder, "000001.SZ", BUY, 1000, 0, xc.MARKET_SZ_CONVERT_5_CANCEL)
    assert (order.order_status, order.traded_volume) == (xc.ORDER_PART_CANCEL, 300)
    assert trader.query_stock_asset(account).frozen_cash == 0


def test_fill_or_kill_fills_nothing_when_it_cannot_fill_everything(trader, account, recorder):
    trader.set_price("000001.SZ", 11.0, available=300)
    order = place(trader, account, recorder, "000001.SZ", BUY, 1000, 0, xc.MARKET_SZ_FULL_OR_CANCEL)
    assert (order.order_status, order.traded_volume) == (xc.ORDER_CANCELED, 0)


def test_a_star_market_order_needs_a_protective_price(trader, account, recorder):
    trader.set_price("688981.SH", 50.0)
    assert "保护价格" in place(trader, account, recorder, "688981.SH", BUY, 200, 0, xc.MARKET_PEER_PRICE_FIRST).status_msg
    assert place(trader, account, recorder, "688981.SH", BUY, 200, 51.0, xc.MARKET_PEER_PRICE_FIRST).order_status == xc.ORDER_SUCCEEDED


def test_a_repo_returns_its_principal_on_the_first_settlement_day_and_its_interest_at_maturity(trader, account, recorder):
    trader.set_price("131810.SZ", 2.0)
    order = place(trader, account, recorder, "131810.SZ", SELL, 10, 2.0)  # 10 张 = 1,000 yuan lent on Tuesday 2026-11-24
    assert order.order_status == xc.ORDER_SUCCEEDED
    asset = trader.query_stock_asset(account)
    assert asset.cash == pytest.approx(1_000_000 - 1_000 - 0.01, abs=0.001)  # 0.001% fee for one day
    assert asset.total_asset == pytest.approx(1_000_000 - 0.01, abs=0.001)  # the loan counts as a holding
    assert trader.roll_day() == "2026-11-25"  # first settlement: the principal is back
    assert trader.query_stock_asset(account).cash == pytest.approx(1_000_000 - 0.01, abs=0.001)
    assert trader.query_stock_position(account, "131810.SZ") is None
    assert trader.roll_day() == "2026-11-26"  # maturity: 1,000 × 2.0% × 1 / 365 = 0.0548 → 0.05 yuan of interest
    assert trader.query_stock_asset(account).cash == pytest.approx(1_000_000 - 0.01 + 0.05, abs=0.001)


@pytest.mark.parametrize(
    ("lent_on", "first_settlement", "maturity", "days"),
    [
        ("2026-11-26", "2026-11-27", "2026-11-30", 3),  # Thursday: Friday + 1 day = Saturday, moved to Monday
        ("2026-11-27", "2026-11-30", "2026-12-01", 1),  # Friday: Monday + 1 day
        ("2026-09-29", "2026-09-30", "2026-10-08", 8),  # before National Day: maturity moves past the holiday
        ("2026-09-30", "2026-10-08", "2026-10-09", 1),  # the last session before it: settles after it
    ],
)
def test_repo_interest_days_follow_the_exchange_calendar(make_trader, recorder, lent_on, first_settlement, maturity, days):
    trader = make_trader()
    trader.book.day = lent_on
    account = xttype.StockAccount("8880002")
    trader.subscribe(account)
    trader.set_price("204001.SH", 3.65)
    place(trader, account, recorder, "204001.SH", SELL, 1000, 3.65)  # 100,000 yuan
    [loan] = trader.book.account("8880002").loans
    assert (loan.settles, loan.mature, loan.days) == (first_settlement, maturity, days)
    while trader.book.day < maturity:
        trader.roll_day()
    assert trader.book.day == maturity
    # 100,000 × 3.65% × days / 365 = 10.00 yuan a day; fee 0.001% = 1.00
    assert trader.query_stock_asset(account).cash == pytest.approx(1_000_000 - 1.00 + 10.00 * days, abs=0.001)


def test_a_repo_below_ten_zhang_or_bought_is_rejected(trader, account, recorder):
    trader.set_price("131810.SZ", 2.0)
    assert place(trader, account, recorder, "131810.SZ", SELL, 5, 2.0).order_status == xc.ORDER_JUNK
    assert "逆回购只能融出" in place(trader, account, recorder, "131810.SZ", BUY, 10, 2.0).status_msg


def test_an_st_stock_has_a_five_percent_band_and_a_file_can_name_it(make_trader, recorder, tmp_path):
    import json

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"600001.SH": {"last": 4.0, "prev_close": 4.0, "name": "*ST 测试"}}), encoding="utf-8")
    trader = make_trader(prices_file=str(prices))
    account = xttype.StockAccount("8880009")
    trader.subscribe(account)
    assert place(trader, account, recorder, "600001.SH", BUY, 100, 4.2).order_status == xc.ORDER_SUCCEEDED  # +5%
    over = place(trader, account, recorder, "600001.SH", BUY, 100, 4.21)
    assert over.order_status == xc.ORDER_JUNK and "[3.8, 4.2]" in over.status_msg
    assert trader.query_stock_position(account, "600001.SH").instrument_name == "*ST 测试"
    trader.set_price("600000.SH", 10.0, prev_close=10.0, name="ST 另一")
    assert place(trader, account, recorder, "600000.SH", BUY, 100, 10.51).order_status == xc.ORDER_JUNK
