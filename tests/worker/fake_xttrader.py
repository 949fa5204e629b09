"""A stand-in for `xtquant.xttrader` (which only imports on Windows) that records every call.

Tests install it as sys.modules["xtquant.xttrader"], so the worker's real adapter code path
(BROKER=qmt) runs unchanged and the exact arguments it sends to QMT can be asserted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from worker.xtquant_sdk import xtconstant, xttype

created: list[XtQuantTrader] = []
ticks: dict[str, dict] = {}  # what the fake xtdata.get_full_tick answers, by code
details: dict[str, dict] = {}  # what the fake xtdata.get_instrument_detail answers, by code
connect_codes: list[int] = []  # scripted answers of connect(), across traders; 0 once exhausted


class XtQuantTrader:
    def __init__(self, path: str, session: int, callback: Any = None):
        self.path, self.session, self.callback = path, session, callback
        self.calls: list[tuple] = []
        self.orders: list[Any] = []
        self._next_id = 1000
        self._seq = 0
        created.append(self)

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))

    def set_timeout(self, timeout: int = 0) -> None:
        self._record("set_timeout", timeout)

    def register_callback(self, callback: Any) -> None:
        self.callback = callback

    def start(self) -> None:
        self._record("start")

    def stop(self) -> None:
        self._record("stop")

    def connect(self) -> int:
        self._record("connect")
        return connect_codes.pop(0) if connect_codes else 0

    def subscribe(self, account: Any) -> int:
        self._record("subscribe", account.account_id)
        return 0

    def order_stock(self, account, stock_code, order_type, order_volume, price_type, price, strategy_name="", order_remark=""):
        order = self._take("order_stock", account, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark)
        # QMT reports on its own callback thread, shortly after the call returns.
        threading.Timer(0.01, self.callback.on_stock_order, args=(order,)).start()
        return order.order_id

    def order_stock_async(self, account, stock_code, order_type, order_volume, price_type, price, strategy_name="", order_remark=""):
        """As QMT does: the request's seq at once; on_order_stock_async_response (with the order id) and the order's
        push follow on its callback thread."""
        order = self._take("order_stock_async", account, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark)
        self._seq += 1
        response = xttype.XtOrderResponse(account.account_id, order.order_id, strategy_name, order_remark, "", self._seq)

        def answer() -> None:
            self.callback.on_order_stock_async_response(response)
            self.callback.on_stock_order(order)

        threading.Timer(0.01, answer).start()
        return self._seq

    def _take(self, method, account, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark) -> Any:
        """Record the call with every argument as QMT gets it, and accept the order (the next id)."""
        self._record(
            method, account.account_id, account.account_type, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark
        )
        self._next_id += 1
        order = accepted_order(
            account.account_id, self._next_id, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark
        )
        self.orders.append(order)
        return order

    def query_stock_orders(self, account: Any, cancelable_only: bool = False) -> list:
        self._record("query_stock_orders", account.account_id, cancelable_only)
        return list(self.orders)

    def query_stock_order(self, account: Any, order_id: int) -> Any:
        return next((o for o in self.orders if o.order_id == order_id), None)

    def cancel_order_stock(self, account: Any, order_id: int) -> int:
        self._record("cancel_order_stock", account.account_id, order_id)
        return 0

    def cancel_order_stock_async(self, account: Any, order_id: int) -> int:
        """The request's seq at once; on_cancel_order_stock_async_response (cancel_result 0) follows on the callback thread."""
        self._record("cancel_order_stock_async", account.account_id, order_id)
        self._seq += 1
        response = xttype.XtCancelOrderResponse(account.account_id, 0, order_id, f"sys{order_id}", self._seq, "")
        threading.Timer(0.01, self.callback.on_cancel_order_stock_async_response, args=(response,)).start()
        return self._seq


def reset() -> None:
    created.clear()
    connect_codes.clear()
    ticks.clear()
    details.clear()


class xtdata:  # stands in for the module xtquant.xtdata
    @staticmethod
    def get_full_tick(codes: list[str]) -> dict:
        return {code: ticks[code] for code in codes if code in ticks}

    @staticmethod
    def get_instrument_detail(code: str) -> dict | None:
        return details.get(code)


def accepted_order(account_id, order_id, stock_code, order_type, volume, price_type, price, strategy_name, order_remark) -> xttype.XtOrder:
    """A real XtOrder as QMT reports it once the exchange has it (status 50, nothing filled)."""
    return xttype.XtOrder(
        account_id,
        stock_code,
        order_id,
        f"sys{order_id}",
        int(time.time()),
        order_type,
        volume,
        price_type,
        price,
        0,
        0.0,
        xtconstant.ORDER_REPORTED,
        "",
        strategy_name,
        order_remark,
        0,
        0,
        "",
        "",
    )
