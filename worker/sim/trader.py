"""SimTrader: a drop-in stand-in for xtquant.xttrader.XtQuantTrader, backed by the simulated exchange.

Same constructor, method names, parameters and return values as XtQuantTrader for what the worker
and the official quick-start use; the real xttype objects; callbacks fired in order from one
simulator thread, as xtquant does. Extra methods for tests and demos: set_price, get_full_tick,
roll_day, disconnect.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TypedDict, Unpack

from filelock import FileLock

from common.config import clock
from common.rules.calendar import TradingCalendar
from common.rules.call_time import CallTime
from common.rules.sizing import Fees
from common.store import calendar_store
from worker.sim import book as books
from worker.sim import journal, settlement, views
from worker.sim.exchange import OPEN, Events, Exchange
from worker.sim.market import PriceSource
from worker.xtquant_sdk import XtAccount, xttype
from worker.xtquant_sdk import xtconstant as xc

log = logging.getLogger("worker.sim")


class SimConfig(TypedDict, total=False):
    """SimTrader's settings beyond XtQuantTrader's own arguments (see SimTrader)."""

    starting_cash: float
    prices_file: str | None
    fees: Fees
    calendar: TradingCalendar
    exchange_hours: bool
    auto_roll: bool
    start_day: str | None
    call_ms: str
    call_concurrency: int
    push_ms: int


class TerminalSlots:
    """A terminal working on `size` calls at once, first come first served (a plain semaphore wakes waiters in any
    order; a socket answers in the order it was asked). queue_up() takes a turn; slot(turn) waits for it."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._changed = threading.Condition()
        self._queue: list[object] = []
        self._busy = 0

    def queue_up(self) -> object:
        turn = object()
        with self._changed:
            self._queue.append(turn)
        return turn

    @contextmanager
    def slot(self, turn: object) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._queue[0] is turn and self._busy < self.size)
            self._queue.pop(0)
            self._busy += 1
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()


class SimTrader:
    """config: starting_cash (yuan, default 1,000,000), prices_file (JSON {code: price}), fees (common.rules.sizing.Fees),
    auto_roll (default True: a new calendar day settles the previous one on the next call), start_day (ISO date of new books),
    calendar (common.rules.calendar.TradingCalendar; default exchange_calendars' days), exchange_hours (default False: fills at any hour).

    What a terminal costs (SIM_CALL_MS, SIM_CALL_CONCURRENCY, SIM_PUSH_MS): call_ms, each call answered over QMT's socket
    (orders, cancels, queries) takes that long ("50", or "p50=40,p99=120" drawn log-normal, seeded by the terminal's
    path); call_concurrency, calls worked on at once, the others wait their turn; push_ms, callbacks delivered in
    batches that often, in order. The wait holds no lock: other calls and the callback thread go on meanwhile."""

    def __init__(self, path: str, session: int, callback: object = None, **config: Unpack[SimConfig]):
        self.path = Path(path)
        self.session = session
        self.callback = callback
        self._config = config
        self._auto_roll = config.get("auto_roll", True)
        self._lock = threading.RLock()
        self._events: queue.Queue[tuple[str, object, str | None] | None] = queue.Queue()  # (callback, payload, account_id); None: stop
        self._dispatcher: threading.Thread | None = None
        self._stopped = threading.Event()
        self._connected = False
        self._subscribed: set[str] = set()
        self._seq = itertools.count(1)
        self._timeout_ms = 0
        self._call_time = CallTime.parse(config.get("call_ms", "0"))
        self._call_rng = random.Random(zlib.crc32(str(self.path).encode()))  # reproducible per terminal
        self._rng_lock = threading.Lock()
        self._terminal = TerminalSlots(int(config.get("call_concurrency", 1)))
        self._push_ms = max(0, int(config.get("push_ms", 0)))
        self.path.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.path / books.LOCK_FILE))  # another process of this terminal may change the books
        self._store = journal.Store(self.path, float(config.get("starting_cash", 1_000_000.0)), config.get("start_day"))
        with self._file_lock:
            self._stamp = self._store.stamp()
            self.book = self._store.load()
        self.exchange = Exchange(
            self.book,
            PriceSource(config.get("prices_file")),
            config.get("fees") or Fees(),
            config.get("calendar") or calendar_store.default(),
            hours=bool(config.get("exchange_hours", False)),
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def register_callback(self, callback: object) -> None:
        self.callback = callback

    def start(self) -> None:
        if self._dispatcher is None:
            self._stopped.clear()
            self._dispatcher = threading.Thread(target=self._dispatch, name=f"sim-callbacks-{self.session}", daemon=True)
            self._dispatcher.start()

    def stop(self) -> None:
        self._stopped.set()
        self._events.put(None)
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(5)
        self._dispatcher = None
        self._connected = False

    def connect(self) -> int:
        """0: connected (the simulator is always there once started)."""
        self._connected = self._dispatcher is not None
        return 0 if self._connected else -1

    def disconnect(self) -> None:
        """Simulate the terminal going away: on_disconnected fires; connect() brings it back."""
        self._connected = False
        self._events.put(("on_disconnected", None, None))

    def subscribe(self, account: XtAccount) -> int:
        self._subscribed.add(account.account_id)
        with self._locked():
            self.book.account(account.account_id)
        status = xttype.XtAccountStatus(account.account_id, xc.SECURITY_ACCOUNT, xc.ACCOUNT_STATUS_OK)
        self._events.put(("on_account_status", status, account.account_id))
        return 0

    def unsubscribe(self, account: XtAccount) -> int:
        self._subscribed.discard(account.account_id)
        return 0

    def set_timeout(self, timeout: int = 0) -> None:
        self._timeout_ms = timeout

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def run_forever(self) -> None:
        while not self._stopped.wait(2):
            pass

    # -- orders --------------------------------------------------------------------------------
    def order_stock(
        self,
        account: XtAccount,
        stock_code: str,
        order_type: int,
        order_volume: int,
        price_type: int,
        price: float,
        strategy_name: str = "",
        order_remark: str = "",
    ) -> int:
        """The order id (> 0); the outcome (50 reported, fills, or 57 with the reason) follows by callbacks. -1 when not connected."""
        self._refuse_inside_callback("order_stock")
        if not self._connected:
            return -1
        with self._terminal_call():
            with self._locked():
                order_id, events = self.exchange.place(
                    account.account_id, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark
                )
            self._emit(account.account_id, events)
        return order_id

    def order_stock_async(
        self,
        account: XtAccount,
        stock_code: str,
        order_type: int,
        order_volume: int,
        price_type: int,
        price: float,
        strategy_name: str = "",
        order_remark: str = "",
    ) -> int:
        """The request's seq at once; the order id comes by on_order_stock_async_response after the call time."""
        seq = next(self._seq)
        if not self._connected:
            return -1

        turn = self._terminal.queue_up() if not self._call_time.free else None  # served in the order asked, as a socket would

        def place() -> None:
            with self._terminal_call(turn):
                with self._locked():
                    order_id, events = self.exchange.place(
                        account.account_id, stock_code, order_type, order_volume, price_type, price, strategy_name, order_remark
                    )
                response = xttype.XtOrderResponse(account.account_id, order_id, strategy_name, order_remark, "", seq)
                self._events.put(("on_order_stock_async_response", response, None))
                self._emit(account.account_id, events)

        self._in_background(place)
        return seq

    def cancel_order_stock(self, account: XtAccount, order_id: int) -> int:
        """0 when the cancel is accepted (the order ends 54, or 53 when part filled), -1 when it cannot be cancelled."""
        self._refuse_inside_callback("cancel_order_stock")
        if not self._connected:
            return -1
        with self._terminal_call():
            with self._locked():
                code, events = self.exchange.cancel(account.account_id, order_id)
            self._emit(account.account_id, events)
        return code

    def cancel_order_stock_async(self, account: XtAccount, order_id: int) -> int:
        seq = next(self._seq)
        if not self._connected:
            return -1

        turn = self._terminal.queue_up() if not self._call_time.free else None

        def cancel() -> None:
            with self._terminal_call(turn):
                with self._locked():
                    code, events = self.exchange.cancel(account.account_id, order_id)
                    order = self.book.account(account.account_id).orders.get(order_id)
                sysid = order["order_sysid"] if order else ""
                response = xttype.XtCancelOrderResponse(account.account_id, code, order_id, sysid, seq, "" if code == 0 else "撤单失败")
                self._events.put(("on_cancel_order_stock_async_response", response, None))
                self._emit(account.account_id, events)

        self._in_background(cancel)
        return seq

    # -- queries -------------------------------------------------------------------------------
    def query_stock_asset(self, account: XtAccount) -> xttype.XtAsset:
        self._refuse_inside_callback("query_stock_asset")
        with self._terminal_call(), self._locked(write=False):
            return self.exchange.asset(account.account_id)

    def query_stock_order(self, account: XtAccount, order_id: int) -> xttype.XtOrder | None:
        with self._terminal_call(), self._locked(write=False):
            order = self.book.account(account.account_id).orders.get(order_id)
            return views.xt_order(account.account_id, order) if order and order["day"] == self.book.day else None

    def query_stock_orders(self, account: XtAccount, cancelable_only: bool = False) -> list[xttype.XtOrder]:
        self._refuse_inside_callback("query_stock_orders")
        with self._terminal_call(), self._locked(write=False):
            orders = [o for o in self.book.account(account.account_id).orders.values() if o["day"] == self.book.day]
            return [views.xt_order(account.account_id, o) for o in orders if not cancelable_only or o["status"] in OPEN]

    def query_history_orders(self, account: XtAccount, start_day: str) -> list[xttype.XtOrder] | None:
        """The simulator only (QMT answers today's orders alone): every order from `start_day` (ISO) to today, oldest
        first; None when the books no longer reach back that far (settlement.KEEP_DAYS)."""
        with self._terminal_call(), self._locked(write=False):
            if date.fromisoformat(start_day) < self.exchange.day - timedelta(days=settlement.KEEP_DAYS):
                return None
            orders = [o for o in self.book.account(account.account_id).orders.values() if o["day"] >= start_day]
            return [views.xt_order(account.account_id, o) for o in sorted(orders, key=lambda o: o["order_id"])]

    def query_repo_loans(self, account: XtAccount) -> list[books.Loan]:
        """The simulator only (QMT shows a repo position alone): each reverse-repo loan not yet repaid in full, copies."""
        with self._terminal_call(), self._locked(write=False):
            return [replace(loan) for loan in self.book.account(account.account_id).loans]

    def query_stock_trades(self, account: XtAccount) -> list[xttype.XtTrade]:
        with self._terminal_call(), self._locked(write=False):
            trades = self.book.account(account.account_id).trades
            return [views.xt_trade(account.account_id, t) for t in trades if t["day"] == self.book.day]

    def query_stock_positions(self, account: XtAccount) -> list[xttype.XtPosition]:
        with self._terminal_call(), self._locked(write=False):
            return self.exchange.positions(account.account_id)

    def query_stock_position(self, account: XtAccount, stock_code: str) -> xttype.XtPosition | None:
        return next((p for p in self.query_stock_positions(account) if p.stock_code == stock_code), None)

    def query_account_infos(self) -> list:
        return [
            SimpleNamespace(
                account_id=a, account_type=xc.SECURITY_ACCOUNT, platform_id=0, account_classification=0, login_status=xc.ACCOUNT_STATUS_OK
            )
            for a in sorted(self._subscribed)
        ]

    query_account_info = query_account_infos

    def query_account_status(self) -> list:
        return [xttype.XtAccountStatus(a, xc.SECURITY_ACCOUNT, xc.ACCOUNT_STATUS_OK) for a in sorted(self._subscribed)]

    # -- the price source and the calendar (simulator only) -------------------------------------
    def get_full_tick(self, codes: list[str]) -> dict:
        """Quotes in xtdata.get_full_tick's shape: {code: {"lastPrice", "lastClose", "bidPrice", "askPrice", ...}}."""
        with self._locked(write=False):
            return {code: self.exchange.quote(code).full_tick() for code in codes}

    def get_instrument_detail(self, code: str) -> dict | None:
        """The code's day facts in xtdata.get_instrument_detail's shape (PreClose, UpStopPrice, DownStopPrice; 0: no limit)."""
        with self._locked(write=False):
            quote = self.exchange.quote(code)
            band = self.exchange.limits(code, quote)
            name = self.exchange.prices.name_of(code)
        down, up = band or (0.0, 0.0)
        return {"InstrumentID": code.split(".")[0], "InstrumentName": name, "PreClose": quote.prev_close, "UpStopPrice": up, "DownStopPrice": down}

    def set_price(self, stock_code: str, last: float, prev_close: float | None = None, available: int | None = None, name: str | None = None) -> None:
        """Pin a code's price (and previous close, the volume that can trade, its name); resting orders that became marketable fill."""
        with self._locked():
            self.exchange.prices.set_price(stock_code, last, prev_close, available, name)
            events = self.exchange.match_code(stock_code)
        for account_id in {getattr(e, "account_id", None) for _, e in events}:
            self._emit(account_id, [(n, e) for n, e in events if getattr(e, "account_id", None) == account_id])

    def roll_day(self) -> str:
        """Settle the day and move to the next trading day (ISO date): T+1 release, repo repaid, open orders end."""
        with self._locked(full=True):  # it drops old orders and trades: only a snapshot says that
            return settlement.roll_day(self.exchange).isoformat()

    def session_after(self, days: int) -> str:
        """The trading day (ISO) `days` sessions after the simulator's day."""
        with self._locked(write=False):
            day = self.exchange.day
            for _ in range(days):
                day = self.exchange.calendar.next_session(day, weekdays_past_data=True) or day
            return day.isoformat()

    def roll_until(self, day: str) -> str:
        """Settle day by day until the simulator's day is `day` (ISO); a day reached already rolls nothing. The day now."""
        with self._locked(full=True):
            settlement.roll_until(self.exchange, date.fromisoformat(day))
            return self.exchange.day.isoformat()

    # -- internals -------------------------------------------------------------------------------
    @contextmanager
    def _terminal_call(self, turn: object | None = None) -> Iterator[None]:
        """One call on the terminal: wait for a free slot (SIM_CALL_CONCURRENCY), spend the call time (SIM_CALL_MS)
        holding no state lock, then do the work inside the slot. A free call time adds no wait at all."""
        if self._call_time.free:
            yield
            return
        with self._terminal.slot(turn if turn is not None else self._terminal.queue_up()):
            with self._rng_lock:
                ms = self._call_time.draw(self._call_rng)
            clock.sleep(ms / 1000)
            yield

    def _in_background(self, work: Callable[[], None]) -> None:
        """An _async call's work: on the caller's thread when calls cost nothing (as before), else on its own thread
        so the seq is back at once and the response follows the call time."""
        if self._call_time.free:
            work()
            return
        threading.Thread(target=work, name=f"sim-call-{self.session}", daemon=True).start()

    @contextmanager
    def _locked(self, write: bool = True, full: bool = False) -> Iterator[None]:
        """Hold the books (this process's threads, and other processes by the file lock); read them again when another
        process changed them; settle any calendar days passed; save after a change (reads skip the write).

        A read whose books are the ones on disk and need no day settled skips the file lock (a write elsewhere
        changes the stamp first): a quote then costs no lock file opened and closed."""
        if not write and not full:
            with self._lock:
                if self._stamp is not None and self._store.stamp() == self._stamp and not (self._auto_roll and self.exchange.day < books.today()):
                    yield
                    return
        with self._lock, self._file_lock:
            current = self._store.stamp()
            if current != self._stamp:
                self.book = self.exchange.book = self._store.load()
                self._stamp = current
            rolled = self._auto_roll and settlement.roll_until(self.exchange, books.today()) > 0
            try:
                yield
            finally:
                if write or rolled:
                    self._store.save(self.book, full=full or rolled)  # only the change; a day roll rewrites the snapshot
                    self._stamp = self._store.stamp()

    def _refuse_inside_callback(self, method: str) -> None:
        # In QMT a synchronous call made inside a callback deadlocks; say so instead of hanging.
        if threading.current_thread() is self._dispatcher:
            raise RuntimeError(f"{method} called inside an xtquant callback would deadlock QMT; use the _async call")

    def _emit(self, account_id: str | None, events: Events) -> None:
        for name, payload in events:
            self._events.put((name, payload, account_id))

    def _dispatch(self) -> None:
        while True:
            batch = [self._events.get()]
            if self._push_ms and batch[0] is not None:  # QMT pushes in batches: gather what comes within push_ms
                clock.sleep(self._push_ms / 1000)
                while not self._events.empty():
                    batch.append(self._events.get_nowait())
            for item in batch:
                if item is None or self._stopped.is_set():
                    return
                self._deliver(*item)

    def _deliver(self, name: str, payload: object, account_id: str | None) -> None:
        if account_id is not None and account_id not in self._subscribed:
            return  # QMT pushes only for subscribed accounts
        handler = getattr(self.callback, name, None) if self.callback is not None else None
        if handler is None:
            return
        try:
            handler() if payload is None else handler(payload)
        except Exception:  # a failing callback must not stop the pushes
            log.exception("simulator callback %s failed", name)
