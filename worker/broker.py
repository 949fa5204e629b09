"""The one broker interface: an XtQuantTrader (real, or the simulator) and its subscribed accounts.

Job code is the same for both implementations; only `make_trader` knows which one it holds.
Every call is bounded by BROKER_CALL_TIMEOUT so a hung terminal never hangs the worker.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CallTimeout
from dataclasses import dataclass, field
from typing import Any

import redis
from xtquant.xttype import StockAccount

from common import keys
from common.exceptions import BrokerTimeout, BrokerUnavailable, ConfigError, UnknownAccount
from common.settings import AccountConfig, Settings

log = logging.getLogger("worker.broker")


def make_trader(settings: Settings, path: str, session_id: int, callback: Any) -> Any:
    """An XtQuantTrader-compatible object for `path`: the simulator, or xtquant's own on Windows."""
    if settings.BROKER == "sim":
        from worker.sim import SimTrader

        return SimTrader(settings.SIM_DATA_DIR, session_id, callback, starting_cash=settings.SIM_STARTING_CASH)
    try:
        from xtquant.xttrader import XtQuantTrader
    except ImportError as error:
        raise ConfigError(f"BROKER=qmt needs xtquant's trader, which only runs on Windows with QMT: {error}") from None
    return XtQuantTrader(path, session_id, callback)


@dataclass
class BrokerSession:
    """One trader object (one per qmt_path) and the accounts subscribed on it."""

    trader: Any
    path: str
    accounts: dict[int, StockAccount] = field(default_factory=dict)  # trader_index -> account
    connected: bool = False
    call_timeout: float = 10.0
    _calls: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="broker-call"))

    def call(self, method: str, *args: Any) -> Any:
        """trader.<method>(*args), bounded by call_timeout; BrokerUnavailable when it does not answer."""
        if not self.connected:
            raise BrokerUnavailable(f"broker session for {self.path or 'the simulator'} is not connected")
        future = self._calls.submit(getattr(self.trader, method), *args)
        try:
            return future.result(timeout=self.call_timeout)
        except CallTimeout:
            raise BrokerTimeout(f"broker did not answer {method} within {self.call_timeout:g} s") from None


class Brokers:
    """Every broker session of this worker, by trader_index."""

    def __init__(self, settings: Settings, connection: redis.Redis, callback: Any):
        self._settings = settings
        self._redis = connection
        self._callback = callback
        self._by_index: dict[int, BrokerSession] = {}
        self._sessions: list[BrokerSession] = []

    def open(self) -> None:
        """Create one trader per qmt_path, start and connect it, subscribe its accounts, record the state."""
        accounts = self._settings.enabled_accounts
        if not accounts:
            raise ConfigError("TRADER_CONFIGS has no enabled account: nothing to trade")
        by_path: dict[str, list[tuple[int, AccountConfig]]] = {}
        for index, account in enumerate(accounts):
            by_path.setdefault(account.qmt_path, []).append((index, account))
        for path, members in by_path.items():
            session_id = members[0][1].session_id or random.randint(100_000, 999_999)
            trader = make_trader(self._settings, path, session_id, self._callback)
            session = BrokerSession(trader=trader, path=path, call_timeout=self._settings.BROKER_CALL_TIMEOUT)
            trader.start()
            result = trader.connect()
            session.connected = result == 0
            for index, account in members:
                stock_account = StockAccount(account.account_id, account.account_type)
                session.accounts[index] = stock_account
                if session.connected and trader.subscribe(stock_account) != 0:
                    log.error("subscribe failed for account index %s", index)
                self._by_index[index] = session
                self._record_connection(index, account, session.connected, result)
            self._sessions.append(session)
            log.info("broker %s at %s: connect=%s, %d account(s)", self._settings.BROKER, path or "-", result, len(members))

    def session(self, index: int) -> tuple[BrokerSession, StockAccount]:
        try:
            session = self._by_index[index]
        except KeyError:
            raise UnknownAccount(f"trader_index {index} selects no enabled account", "trader_index") from None
        return session, session.accounts[index]

    def indexes(self) -> list[int]:
        return sorted(self._by_index)

    def close(self) -> None:
        for session in self._sessions:
            try:
                session.trader.stop()
            except Exception:  # stopping is best effort at shutdown
                log.exception("stopping broker session failed")
            session._calls.shutdown(wait=False, cancel_futures=True)

    def _record_connection(self, index: int, account: AccountConfig, connected: bool, code: int) -> None:
        self._redis.hset(
            keys.broker_connection(index),
            mapping={"account_id": account.account_id, "connected": int(connected), "code": code, "ts": time.time()},
        )
