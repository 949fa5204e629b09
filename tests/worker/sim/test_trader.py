"""SimTrader as an XtQuantTrader: callbacks from one thread in order, async calls, restarts, the quick-start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import KEEP_BYTECODE_AWAY, wait_until
from worker.sim.quickstart import official_script
from worker.xtquant_sdk import xtconstant as xc
from worker.xtquant_sdk import xttype

ROOT = Path(__file__).resolve().parents[3]


def test_callbacks_arrive_on_one_simulator_thread_in_order(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    order_id = trader.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 10.0, "s", "o0123456789abcdef")
    recorder.wait_for("asset")
    names = [name for name, _, _ in recorder.pushes]
    assert names == ["order", "trade", "order", "position", "asset"]
    assert {thread for _, _, thread in recorder.pushes} == {"sim-callbacks-1"}
    reported, trade, filled, position, asset = (item for _, item, _ in recorder.pushes)
    assert isinstance(reported, xttype.XtOrder) and reported.order_status == xc.ORDER_REPORTED and reported.order_remark == "o0123456789abcdef"
    assert isinstance(trade, xttype.XtTrade) and trade.order_id == order_id and trade.order_remark == "o0123456789abcdef"
    assert isinstance(filled, xttype.XtOrder) and filled.order_status == xc.ORDER_SUCCEEDED and filled.traded_volume == 100
    assert isinstance(position, xttype.XtPosition) and isinstance(asset, xttype.XtAsset)


def test_pushes_only_for_subscribed_accounts(trader, account, recorder):
    stranger = xttype.StockAccount("not-subscribed")
    trader.set_price("600000.SH", 10.0)
    assert trader.order_stock(stranger, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 10.0) > 0
    trader.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0)  # pushed after anything the stranger caused
    recorder.wait_for("order")
    assert {item.account_id for _, item, _ in recorder.pushes} == {account.account_id}
    assert len(trader.query_stock_orders(stranger)) == 1  # any account id works


def test_async_order_and_cancel_answer_with_their_seq(trader, account, recorder):
    trader.set_price("600000.SH", 10.0)
    seq = trader.order_stock_async(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0, "s", "r")
    response = recorder.wait_for("order_response")
    assert response.seq == seq and response.order_id > 0
    cancel_seq = trader.cancel_order_stock_async(account, response.order_id)
    cancelled = recorder.wait_for("cancel_response")
    assert (cancelled.seq, cancelled.cancel_result, cancelled.order_id) == (cancel_seq, 0, response.order_id)


def test_a_synchronous_call_inside_a_callback_is_refused_as_qmt_would_deadlock(trader, account, recorder):
    failures = []

    class Naive(type(recorder)):
        def on_stock_order(self, order):
            try:
                trader.query_stock_orders(account)
            except RuntimeError as error:
                failures.append(str(error))

    trader.register_callback(Naive())
    trader.set_price("600000.SH", 10.0)
    trader.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0)
    assert wait_until(lambda: failures, 5)
    assert "would deadlock QMT" in failures[0]


def test_state_survives_a_restart(make_trader, recorder):
    account = xttype.StockAccount("8880003")
    first = make_trader()
    first.subscribe(account)
    first.set_price("600000.SH", 10.0)
    filled = first.order_stock(account, "600000.SH", xc.STOCK_BUY, 500, xc.FIX_PRICE, 10.0)
    resting = first.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0)
    cash = first.query_stock_asset(account).cash
    first.stop()  # the worker dies

    second = make_trader()
    assert second.query_stock_asset(account).cash == cash
    assert second.query_stock_position(account, "600000.SH").volume == 500
    orders = {o.order_id: o.order_status for o in second.query_stock_orders(account)}
    assert orders == {filled: xc.ORDER_SUCCEEDED, resting: xc.ORDER_REPORTED}
    assert second.cancel_order_stock(account, resting) == 0  # its frozen cash is still accounted for
    assert second.query_stock_asset(account).frozen_cash == 0
    new_id = second.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 9.0)
    assert new_id > max(orders)  # ids keep increasing across restarts


def test_not_connected_means_minus_one(tmp_path):
    from worker.sim import SimTrader

    trader = SimTrader(str(tmp_path), 7)
    assert trader.order_stock(xttype.StockAccount("x"), "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 10.0) == -1
    assert trader.connect() == -1  # start() first, as with xtquant


def test_disconnect_fires_on_disconnected_and_connect_restores(trader, account, recorder):
    trader.disconnect()
    recorder.wait_for("disconnected")
    assert trader.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 10.0) == -1
    assert trader.connect() == 0
    assert trader.order_stock(account, "600000.SH", xc.STOCK_BUY, 100, xc.FIX_PRICE, 10.0) > 0


def test_query_account_status_and_infos(trader, account):
    [status] = trader.query_account_status()
    assert (status.account_id, status.status) == ("8880001", xc.ACCOUNT_STATUS_OK)
    assert trader.query_account_infos()[0].account_id == "8880001"


def test_the_seeded_prices_are_repeatable_and_inside_the_daily_limit(trader):
    first = trader.get_full_tick(["600519.SH", "000001.SZ", "131810.SZ"])
    assert first == trader.get_full_tick(["600519.SH", "000001.SZ", "131810.SZ"])
    for tick in first.values():
        assert abs(tick["lastPrice"] / tick["lastClose"] - 1) < 0.07


def test_the_official_quick_start_runs_with_only_its_import_line_changed(tmp_path):
    assert "from worker.sim import XtQuantTrader, XtQuantTraderCallback" in official_script()
    done = subprocess.run(
        [sys.executable, "-m", "worker.sim.quickstart"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **KEEP_BYTECODE_AWAY},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in ("order using the fix price:", "on order callback:", "cash ", "orders: 2", "trades:", "positions:", "query position:"):
        assert expected in out, out
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]  # its books went to SIM_DATA_DIR (VAR_DIR/sim), nothing else
    assert (tmp_path / "var" / "sim" / "quickstart").is_dir()


def test_subscribing_pushes_the_account_status(tmp_path):
    import threading

    from worker.sim import SimTrader, XtQuantTraderCallback

    seen = threading.Event()
    statuses = []

    class Callback(XtQuantTraderCallback):
        def on_account_status(self, status):
            statuses.append((status.account_id, status.status))
            seen.set()

    trader = SimTrader(str(tmp_path), 3, Callback())
    trader.start()
    trader.connect()
    trader.subscribe(xttype.StockAccount("8880004"))
    assert seen.wait(2) and statuses == [("8880004", xc.ACCOUNT_STATUS_OK)]
    trader.stop()
