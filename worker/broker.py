"""Broker sessions: an XtQuantTrader (real, or the simulator) per qmt_path and its accounts, kept connected.

Job code is the same for both implementations; only `make_trader` knows which one it holds, and
jobs reach it through `Brokers.broker(index)` (worker.xt_broker, the worker.broker_api.Broker protocol).
Every call is bounded by BROKER_CALL_TIMEOUT so a hung terminal never hangs the worker, and a
session that drops (on_disconnected, or a failed connect) is reconnected with backoff: connect()
again, then a fresh trader object with a new session id.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CallTimeout
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

import redis

from common.config import clock
from common.config.settings import AccountConfig, Settings
from common.rules.exceptions import BrokerTimeout, BrokerUnavailable, ConfigError, SimulatorOnly, UnknownAccount
from common.store import calendar_store, events, keys
from worker.callbacks import OrderEventRecorder
from worker.xt_broker import XtBroker
from worker.xtquant_sdk import XtAccount, XtCancelOrderResponse, XtOrderResponse, XtTrader, trader_class, xttype

log = logging.getLogger("worker.broker")
BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30)  # between reconnect attempts; the last repeats
OFF_DAY_BACKOFF = 300  # seconds between attempts on a weekend, when the terminal is often down on purpose
FRESH_TRADER_AFTER = 2  # failed connect() calls before a new trader object and session id
T = TypeVar("T")


def make_trader(settings: Settings, path: str, session_id: int, callback: object) -> XtTrader:
    """An XtQuantTrader-compatible object for `path`: the simulator, or xtquant's own on Windows."""
    if settings.BROKER == "sim":
        from common.rules.sizing import Fees
        from worker.sim import SimTrader
        from worker.sim.book import terminal_folder

        return SimTrader(
            str(terminal_folder(settings.SIM_DATA_DIR, path)),  # one state per terminal, as each QMT keeps its own userdata
            session_id,
            callback,
            starting_cash=settings.SIM_STARTING_CASH,
            prices_file=settings.SIM_PRICES_FILE or None,
            fees=Fees.from_settings(settings),
            calendar=calendar_store.load(settings),
            exchange_hours=settings.SIM_EXCHANGE_HOURS,
            call_ms=settings.SIM_CALL_MS,
            call_concurrency=settings.SIM_CALL_CONCURRENCY,
            push_ms=settings.SIM_PUSH_MS,
        )
    try:
        XtQuantTrader = trader_class()
    except ImportError as error:
        raise ConfigError(f"BROKER=qmt needs xtquant's trader, which only runs on Windows with QMT: {error}") from None
    trader = XtQuantTrader(path, session_id, callback)
    trader.set_timeout(int(settings.BROKER_CALL_TIMEOUT * 1000))  # xtquant's own call timeout, in ms
    return trader


def reconnect_delay(failures: int, moment: datetime) -> float:
    """Seconds before the next reconnect attempt after `failures` failed ones: backoff, and no storm on weekends."""
    delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1]
    if moment.weekday() >= 5 and failures >= len(BACKOFF_SECONDS):
        return max(delay, OFF_DAY_BACKOFF)
    return delay


@runtime_checkable
class SimulatedDays(Protocol):
    """The simulator's trader moves its trading day on (worker.sim.SimTrader); QMT's cannot."""

    def session_after(self, days: int, /) -> str: ...
    def roll_until(self, day: str, /) -> str: ...


class BrokerSession:
    """One trader object (one per qmt_path), the accounts subscribed on it, and whether it is online."""

    def __init__(self, path: str, members: list[tuple[int, AccountConfig]], call_timeout: float):
        self.path = path
        self.members = members
        self.accounts: dict[int, XtAccount] = {index: xttype.StockAccount(account.account_id, account.account_type) for index, account in members}
        self.call_timeout = call_timeout
        self.trader: XtTrader  # set by Brokers._new_trader before the session is used
        self.session_id = 0
        self.failures = 0
        self.dropped = False  # it was online and went away: say so when it is back
        self._online = threading.Event()
        self._calls = ThreadPoolExecutor(max_workers=2, thread_name_prefix="broker-call")

    @property
    def connected(self) -> bool:
        return self._online.is_set()

    def wait_online(self, timeout: float) -> bool:
        return self._online.wait(max(timeout, 0.0))

    def mark_online(self) -> None:
        """The trader connected (Brokers; tests): calls may run."""
        self._online.set()

    def mark_offline(self) -> None:
        """The trader went away: calls are refused (BrokerUnavailable) until it is online again."""
        self._online.clear()

    def run(self, request: Callable[[XtTrader], T], what: str) -> T:
        """request(trader) on the current trader object, bounded by call_timeout; `what` names it in errors.

        BrokerUnavailable: the call never reached the broker (offline, or still waiting for a free
        call thread when the time ran out, and withdrawn). BrokerTimeout: it was running when the
        time ran out, so whether it took effect is unknown until checked.
        """
        if not self.connected:
            raise BrokerUnavailable(f"broker session for {self.path or 'the simulator'} is not connected")
        # the call's thread logs with the job's context (common.config.logs.job_context), as if it ran in the job's own thread
        future = self._calls.submit(contextvars.copy_context().run, request, self.trader)
        try:
            return future.result(timeout=self.call_timeout)
        except CallTimeout:
            if future.cancel():  # never started: it can never reach the broker later
                raise BrokerUnavailable(f"broker busy: {what} could not start within {self.call_timeout:g} s; not sent") from None
            raise BrokerTimeout(f"broker did not answer {what} within {self.call_timeout:g} s") from None

    def close(self) -> None:
        self._online.clear()
        self._calls.shutdown(wait=False, cancel_futures=True)


class SessionCallback:
    """The callback registered with one trader: forwards to the recorder, names the terminal of its answers to async
    sends (seqs are per trader), and notices disconnects."""

    def __init__(self, recorder: OrderEventRecorder, on_offline: Callable[[], None], terminal: str = ""):
        self._recorder = recorder
        self._on_offline = on_offline
        self._terminal = terminal

    def on_order_stock_async_response(self, response: XtOrderResponse) -> None:
        self._recorder.on_send_answer(self._terminal, response)

    def on_cancel_order_stock_async_response(self, response: XtCancelOrderResponse) -> None:
        self._recorder.on_cancel_answer(self._terminal, response)

    def on_disconnected(self) -> None:
        self._on_offline()
        self._recorder.on_disconnected()

    def __getattr__(self, name: str) -> object:
        return getattr(self._recorder, name)


class Brokers:
    """Every broker session of this worker, by trader_index, kept connected by a supervisor thread."""

    def __init__(self, settings: Settings, connection: redis.Redis, recorder: OrderEventRecorder, indexes: tuple[int, ...] | None = None):
        """`indexes`: the trader_indexes of this worker's terminal (None: every enabled account)."""
        self._settings = settings
        self._indexes = indexes
        self._redis = connection
        self._recorder = recorder
        self._by_index: dict[int, BrokerSession] = {}
        self._sessions: list[BrokerSession] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None

    def open(self) -> None:
        """Create one trader per qmt_path, connect and subscribe it, then keep every session connected."""
        accounts = self._settings.enabled_accounts
        if not accounts:
            raise ConfigError("TRADER_CONFIGS has no enabled account: nothing to trade")
        by_path: dict[str, list[tuple[int, AccountConfig]]] = {}
        for index, account in enumerate(accounts):
            if self._indexes is None or index in self._indexes:  # another terminal's accounts are another worker's
                by_path.setdefault(account.qmt_path, []).append((index, account))
        for path, members in by_path.items():
            session = BrokerSession(path, members, self._settings.BROKER_CALL_TIMEOUT)
            self._new_trader(session, members[0][1].session_id)
            self._connect(session)
            self._sessions.append(session)
            for index, _ in members:
                self._by_index[index] = session
        self._supervisor = threading.Thread(target=self._supervise, name="broker-supervisor", daemon=True)
        self._supervisor.start()

    def session(self, index: int) -> tuple[BrokerSession, XtAccount]:
        try:
            session = self._by_index[index]
        except KeyError:
            raise UnknownAccount(f"trader_index {index} selects no enabled account", "trader_index") from None
        return session, session.accounts[index]

    def broker(self, index: int) -> XtBroker:
        """The Broker of trader_index `index`. Raises UnknownAccount when it selects no enabled account."""
        session, account = self.session(index)
        return XtBroker(session, index, account, self._recorder)

    def indexes(self) -> list[int]:
        return sorted(self._by_index)

    def sim_day_after(self, days: int) -> str:
        """The simulator only: the trading day (ISO) `days` sessions after the simulator's day (its first session's)."""
        return self._simulators()[0].session_after(days)

    def roll_sim_until(self, day: str) -> str:
        """The simulator only: settle every session's books day by day until `day` (ISO; reached already: nothing); the day now."""
        return [trader.roll_until(day) for trader in self._simulators()][-1]

    def _simulators(self) -> list[SimulatedDays]:
        """Every session's trader, each the simulator's; SimulatorOnly on a real terminal."""
        if self._settings.BROKER != "sim":
            raise SimulatorOnly(f"the trading day can be moved only on the simulator; BROKER is {self._settings.BROKER}")
        return [session.trader for session in self._sessions if isinstance(session.trader, SimulatedDays)]

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for session in self._sessions:
            session.close()
            self._stop_trader(session.trader)

    # -- connecting ---------------------------------------------------------------------------
    def _new_trader(self, session: BrokerSession, session_id: int | None = None) -> None:
        session.session_id = session_id or random.randint(100_000, 999_999)
        callback = SessionCallback(self._recorder, lambda: self._went_offline(session), session.path)
        session.trader = make_trader(self._settings, session.path, session.session_id, callback)
        session.trader.start()

    def _connect(self, session: BrokerSession) -> bool:
        """connect() and subscribe every account; record the outcome per account. True when online."""
        try:
            code = session.trader.connect()
        except Exception as error:  # noqa: BLE001 - a broken terminal may raise instead of answering; xtquant documents no exception types
            log.error("connect to %s raised %s", session.path or "the simulator", error.__class__.__name__)
            code = -1
        if code == 0:
            for index, xt_account in session.accounts.items():
                if session.trader.subscribe(xt_account) != 0:
                    log.error("subscribe failed for trader_index %s", index)
            if session.dropped:  # xtquant has no "connected" callback: the reconnect is recorded here
                for _, account in session.members:
                    events.append(self._redis, events.ConnectionEvent(kind="connected", account_id=account.account_id))
            session.failures = 0
            session.dropped = False
            session.mark_online()
        else:
            session.failures += 1
        for index, account in session.members:
            self._record(index, account, code == 0, code, session)
        log.info("broker %s at %s: session %s connect=%s", self._settings.BROKER, session.path or "-", session.session_id, code)
        return code == 0

    def _went_offline(self, session: BrokerSession) -> None:
        """Called on the trader's callback thread: mark it offline and wake the supervisor (no broker calls here)."""
        session.mark_offline()
        session.failures = 0
        session.dropped = True
        for index, account in session.members:
            self._record(index, account, False, "disconnected", session)
        self._wake.set()

    def _supervise(self) -> None:
        next_try: dict[int, float] = {}
        while not self._stop.is_set():
            try:
                self._reconnect_due(next_try)
            except Exception:  # the supervisor must outlive any one failed attempt
                log.exception("reconnect attempt failed")
            self._wake.wait(0.5)
            self._wake.clear()

    def _reconnect_due(self, next_try: dict[int, float]) -> None:
        now = time.monotonic()
        for position, session in enumerate(self._sessions):
            if session.connected:
                next_try.pop(position, None)
                continue
            if now < next_try.setdefault(position, now):
                continue
            if session.failures >= FRESH_TRADER_AFTER:
                log.warning("reconnect: replacing the trader for %s with a new session", session.path or "the simulator")
                self._stop_trader(session.trader)
                self._new_trader(session)
            if not self._connect(session):
                next_try[position] = time.monotonic() + reconnect_delay(session.failures, clock.now())

    def _stop_trader(self, trader: XtTrader) -> None:
        """Stop a trader without letting a hung terminal hold the caller."""
        stopper = threading.Thread(target=self._stop_quietly, args=(trader,), name="broker-stop", daemon=True)
        stopper.start()
        stopper.join(self._settings.BROKER_CALL_TIMEOUT)

    @staticmethod
    def _stop_quietly(trader: XtTrader) -> None:
        try:
            trader.stop()
        except Exception:  # stopping is best effort
            log.exception("stopping a broker trader failed")

    def _record(self, index: int, account: AccountConfig, connected: bool, code: int | str, session: BrokerSession) -> None:
        try:
            self._redis.hset(
                keys.broker_connection(index),
                mapping={
                    "account_id": account.account_id,
                    "connected": int(connected),
                    "code": str(code),
                    "session_id": session.session_id,
                    "failures": session.failures,
                    "ts": time.time(),
                },
            )
        except redis.RedisError as error:
            log.error("could not record the connection state of trader_index %s: %s", index, error.__class__.__name__)
