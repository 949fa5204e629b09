"""The project's one door to the xtquant package (QMT's broker SDK), imported offline and silently.

xtquant's own `__init__` calls `check_for_update` on every first import: when `requests` imports,
it asks pypi.org for the latest version (10 s timeout) and prints the answer to stdout. A QMT host
without internet would stall at every worker start, and the test suite would send traffic off the
machine. This module imports the package once while `import requests` is made to fail (a `None`
entry in `sys.modules`, which is how Python documents blocking an import), so the check gives up
before it reaches the network, then puts `sys.modules` back as it was. No file of the installed
package is changed.

Project code imports xtquant only from here; `common/` never imports it at all.

xtquant ships no type information. What the router reads of its objects and calls on its trader and its data
module is spelled out below as Protocols (XtTrader, XtOrder, ...): xtquant's own objects satisfy them, and so do the
simulator's (worker.sim), so the code past this door is typed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast, runtime_checkable

_BLOCKED_FOR_UPDATE_CHECK = "requests"  # the first import check_for_update makes, before it connects


def _import_package_offline() -> ModuleType:
    """The `xtquant` package, imported while its update check cannot import `requests`.

    Runs once, as this module's body, under the import system's lock for this module, so threads
    importing it at once do not race. The `None` entry lasts only while xtquant's `__init__` runs
    (a few milliseconds: the check fails on its first line); another thread importing `requests` for the
    first time in exactly that instant would get ImportError.
    """
    package = sys.modules.get("xtquant")
    if package is not None:  # someone imported it already: its update check has run, nothing to prevent
        return package
    # typeshed leaves out the None entry Python documents for blocking an import
    modules = cast("dict[str, ModuleType | None]", sys.modules)
    had = _BLOCKED_FOR_UPDATE_CHECK in modules
    saved = modules.get(_BLOCKED_FOR_UPDATE_CHECK)
    modules[_BLOCKED_FOR_UPDATE_CHECK] = None  # `import requests` raises ImportError, which xtquant's bare except swallows
    try:
        return importlib.import_module("xtquant")
    finally:
        if not had:
            modules.pop(_BLOCKED_FOR_UPDATE_CHECK, None)
        else:
            modules[_BLOCKED_FOR_UPDATE_CHECK] = saved  # the very module object other code already holds


_package = _import_package_offline()

# The package is in sys.modules now, so these submodule imports never run the update check.
from xtquant import xtconstant, xttype  # noqa: E402

if _package.__file__ is None:  # a namespace package of that name, not xtquant's
    raise ImportError("xtquant is not an installed package (it has no __file__)")
PACKAGE_DIR = Path(_package.__file__).parent  # the installed package, e.g. for its own doc/xttrader.md


# -- what the router uses of xtquant, typed ----------------------------------------------------------------------------
class XtAccount(Protocol):
    """xttype.StockAccount: the account a trader call acts on."""

    account_id: str
    account_type: int


class XtAsset(Protocol):
    """xttype.XtAsset: an account's money, yuan."""

    account_id: str
    cash: float
    frozen_cash: float
    market_value: float
    total_asset: float


class XtOrder(Protocol):
    """xttype.XtOrder: an order as the broker reports it (instrument_name: not on every terminal's)."""

    order_id: int
    account_id: str
    stock_code: str
    order_type: int
    order_volume: int
    price: float
    price_type: int
    order_status: int
    status_msg: str
    traded_volume: int
    traded_price: float
    strategy_name: str
    order_remark: str
    order_time: int


class XtTrade(Protocol):
    """xttype.XtTrade: one fill (instrument_name and commission: not on every terminal's)."""

    order_id: int
    account_id: str
    stock_code: str
    order_type: int
    traded_id: str
    traded_time: int
    traded_volume: int
    traded_price: float
    traded_amount: float
    strategy_name: str
    order_remark: str


class XtPosition(Protocol):
    """xttype.XtPosition: a holding (instrument_name: not on every terminal's)."""

    account_id: str
    stock_code: str
    volume: int
    can_use_volume: int
    frozen_volume: int
    on_road_volume: int
    yesterday_volume: int
    market_value: float
    avg_price: float
    open_price: float
    last_price: float


class XtOrderError(Protocol):
    """xttype.XtOrderError: why the broker refused an order (order_remark: not on every terminal's)."""

    order_id: int
    account_id: str
    error_id: int
    error_msg: str


class XtOrderResponse(Protocol):
    """xttype.XtOrderResponse: the broker's answer to order_stock_async (order_id -1 and error_msg: refused)."""

    account_id: str
    order_id: int
    strategy_name: str
    order_remark: str
    error_msg: str
    seq: int


class XtCancelOrderResponse(Protocol):
    """xttype.XtCancelOrderResponse: the broker's answer to cancel_order_stock_async (cancel_result 0: accepted)."""

    account_id: str
    cancel_result: int
    order_id: int
    seq: int


class XtCancelError(Protocol):
    """xttype.XtCancelError: why the broker refused a cancel."""

    order_id: int
    account_id: str
    error_id: int
    error_msg: str


class XtAccountStatus(Protocol):
    """xttype.XtAccountStatus: the broker's status code of an account."""

    account_id: str
    status: int


class XtTrader(Protocol):
    """What the router calls on xtquant.xttrader.XtQuantTrader (and on the simulator's SimTrader). Failures come back
    as xtquant's codes: -1 for an order refused or not connected, non-zero for a refused cancel, None for no answer."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def connect(self) -> int: ...
    def subscribe(self, account: XtAccount, /) -> int: ...
    def set_timeout(self, timeout: int, /) -> None: ...  # ms; xtquant's own bound on each call
    def order_stock(
        self,
        account: XtAccount,
        stock_code: str,
        order_type: int,
        order_volume: int,
        price_type: int,
        price: float,
        strategy_name: str,
        order_remark: str,
        /,
    ) -> int: ...
    def order_stock_async(
        self,
        account: XtAccount,
        stock_code: str,
        order_type: int,
        order_volume: int,
        price_type: int,
        price: float,
        strategy_name: str,
        order_remark: str,
        /,
    ) -> int: ...  # the request's seq; on_order_stock_async_response carries it with the order id
    def cancel_order_stock(self, account: XtAccount, order_id: int, /) -> int: ...
    def cancel_order_stock_async(self, account: XtAccount, order_id: int, /) -> int: ...  # the seq; answered by callback
    def query_stock_asset(self, account: XtAccount, /) -> XtAsset | None: ...
    def query_stock_order(self, account: XtAccount, order_id: int, /) -> XtOrder | None: ...
    def query_stock_orders(self, account: XtAccount, cancelable_only: bool = False, /) -> list[XtOrder] | None: ...
    def query_stock_trades(self, account: XtAccount, /) -> list[XtTrade] | None: ...
    def query_stock_position(self, account: XtAccount, stock_code: str, /) -> XtPosition | None: ...
    def query_stock_positions(self, account: XtAccount, /) -> list[XtPosition] | None: ...


@runtime_checkable
class QuoteSource(Protocol):
    """The quotes of xtquant.xtdata: its module, or a trader with its own (the simulator's)."""

    def get_full_tick(self, codes: list[str], /) -> dict[str, dict]: ...  # {code: {"lastPrice", "lastClose", "bidPrice", ...}}
    def get_instrument_detail(self, code: str, /) -> dict | None: ...  # {"UpStopPrice", "DownStopPrice", ...}


class XtData(QuoteSource, Protocol):
    """What the router calls in the xtquant.xtdata module."""

    def get_trading_calendar(self, market: str, start_time: str, /) -> list[str]: ...  # YYYYMMDD


# (path, session id, callback object) -> a trader; the callback gets xtquant's pushes (on_stock_order, ...)
TraderClass = Callable[[str, int, object], XtTrader]


def trader_class() -> TraderClass:
    """xtquant.xttrader.XtQuantTrader. Raises ImportError where QMT's native client cannot load (not Windows)."""
    found: TraderClass = importlib.import_module("xtquant.xttrader").XtQuantTrader
    return found


def market_data() -> XtData:
    """The xtquant.xtdata module (full ticks from QMT). Raises ImportError where QMT's data client cannot load."""
    return cast(XtData, importlib.import_module("xtquant.xtdata"))  # the module is untyped: it has these functions


__all__ = [
    "PACKAGE_DIR",
    "QuoteSource",
    "TraderClass",
    "XtAccount",
    "XtAccountStatus",
    "XtAsset",
    "XtCancelError",
    "XtCancelOrderResponse",
    "XtData",
    "XtOrder",
    "XtOrderError",
    "XtOrderResponse",
    "XtPosition",
    "XtTrade",
    "XtTrader",
    "market_data",
    "trader_class",
    "xtconstant",
    "xttype",
]
