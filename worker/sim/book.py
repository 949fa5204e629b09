"""The simulator's books: cash, positions, orders, trades and repo loans per account, kept on disk.

One folder per terminal (qmt_path) under SIM_DATA_DIR, as each real QMT keeps its own
userdata_mini: a JSON snapshot written atomically and a journal of the changes since
(worker/sim/journal.py), so a restarted worker sees the same account.
Changes are made under a file lock (load, change, save), so two processes of one terminal (a
standby worker taking over) never overwrite each other. Money in yuan, volumes in shares (张).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from common.config import clock

STATE_FILE = "sim_state.json"
LOCK_FILE = ".sim_state.lock"  # held for each change, never for the life of a process


def today() -> date:
    """The simulator's calendar day: the router's clock (common.config.clock), so tests can move it."""
    return clock.today()


@dataclass
class Holding:
    volume: int = 0  # shares held (张 for bonds and repo)
    can_use_volume: int = 0  # sellable now: bought before today (T+1), not frozen by an open sell
    frozen_volume: int = 0  # reserved by open sells
    cost: float = 0.0  # what the held shares cost, fees included (yuan)
    open_price: float = 0.0
    yesterday_volume: int = 0

    @property
    def avg_price(self) -> float:
        return round(self.cost / self.volume, 4) if self.volume else 0.0


@dataclass
class Loan:
    """Cash lent in reverse repo: the principal returns on `settles`, the interest (`days` of it) on `mature` (ISO dates)."""

    code: str
    volume: int  # 张 of 100 yuan
    rate: float  # annualised, percent
    start: str
    mature: str
    days: int
    settles: str = ""  # first settlement day; books written before it was kept return everything on `mature`
    principal_back: bool = False

    @property
    def principal(self) -> float:
        return self.volume * 100.0

    @property
    def interest(self) -> float:
        return round(self.principal * self.rate / 100 * self.days / 365, 2)


@dataclass
class Account:
    cash: float
    frozen_cash: float = 0.0
    positions: dict[str, Holding] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)  # order_id -> order (see exchange.new_order)
    trades: list[dict] = field(default_factory=list)
    loans: list[Loan] = field(default_factory=list)

    def holding(self, code: str) -> Holding:
        return self.positions.setdefault(code, Holding())


@dataclass
class Book:
    """Every account of one simulator path, the trading day, and the id counters."""

    day: str
    starting_cash: float
    next_order_id: int = 1
    next_trade_id: int = 1
    accounts: dict[str, Account] = field(default_factory=dict)
    generation: int = 0  # which journal lines apply on top of this snapshot (worker/sim/journal.py)

    def account(self, account_id: str) -> Account:
        """An account by id; any id works and starts with `starting_cash`."""
        if account_id not in self.accounts:
            self.accounts[account_id] = Account(cash=self.starting_cash)
        return self.accounts[account_id]

    def order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id - 1

    def trade_id(self) -> int:
        self.next_trade_id += 1
        return self.next_trade_id - 1


def terminal_folder(data_dir: str, qmt_path: str) -> Path:
    """The simulator's folder of one terminal: SIM_DATA_DIR itself for the default qmt_path "" (where the state
    always lived), else a subfolder named after the path (safe characters, and a digest so two paths never share one)."""
    if not qmt_path:
        return Path(data_dir)
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", qmt_path).strip("._")[-40:] or "terminal"
    return Path(data_dir) / f"{readable}-{hashlib.sha256(qmt_path.encode()).hexdigest()[:8]}"


def stamp(path: Path) -> tuple[int, int, int] | None:
    """What identifies the state file's current version (inode, mtime ns, size); None when there is none yet."""
    try:
        found = (path / STATE_FILE).stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def load(path: Path, starting_cash: float, start_day: str | None = None) -> Book:
    """The books under `path`, or new ones starting on `start_day` (ISO; default today in Shanghai)."""
    file = path / STATE_FILE
    if not file.exists():
        return Book(day=start_day or today().isoformat(), starting_cash=starting_cash)
    raw = json.loads(file.read_text(encoding="utf-8"))
    accounts = {}
    for account_id, data in raw.pop("accounts").items():
        accounts[account_id] = Account(
            cash=data["cash"],
            frozen_cash=data["frozen_cash"],
            positions={code: Holding(**h) for code, h in data["positions"].items()},
            orders={int(order_id): order for order_id, order in data["orders"].items()},
            trades=data["trades"],
            loans=[Loan(**loan) for loan in data["loans"]],
        )
    return Book(accounts=accounts, **raw)


def save(path: Path, book: Book) -> None:
    """Write the book atomically (a temp file, then os.replace): a killed process leaves the old or the new state.

    No fsync: a process crash loses nothing the kernel has, and the simulator need not survive a
    power cut at the price of a disk flush per order.
    """
    path.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path, prefix=".sim_state.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps(_plain(book), ensure_ascii=False, separators=(",", ":")))  # dumps: the C encoder
    os.replace(temp, path / STATE_FILE)


def _plain(book: Book) -> dict:
    """The book as JSON-ready dicts, without dataclasses.asdict's deep copy of every order."""
    accounts = {
        account_id: {
            "cash": account.cash,
            "frozen_cash": account.frozen_cash,
            "positions": {code: vars(holding) for code, holding in account.positions.items()},
            "orders": account.orders,
            "trades": account.trades,
            "loans": [vars(loan) for loan in account.loans],
        }
        for account_id, account in book.accounts.items()
    }
    return {
        "day": book.day,
        "starting_cash": book.starting_cash,
        "next_order_id": book.next_order_id,
        "next_trade_id": book.next_trade_id,
        "generation": book.generation,
        "accounts": accounts,
    }
