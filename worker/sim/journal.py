"""The simulator's books on disk: a snapshot (sim_state.json) and a journal of changes appended after it.

Writing the whole day's books after every order made each order cost as much as the day so far;
now a change appends one line holding only what it can have changed: the ids and day, each
account's cash and (few) positions and loans, the orders new since the last write or open then and
changed since (compared with the copy kept of each as written: a day of resting orders no longer makes every
order cost more), and the trades added since. Non-open orders never change again (a day roll, which drops
old ones, writes a snapshot instead).

- A line is one write() to a file opened for append: a process killed mid-write leaves a torn last
  line, cut off on the next load (the call that wrote it never returned).
- The journal is folded into a new snapshot (atomic replace, as before) when it outgrows
  COMPACT_BYTES, when an account appears, on a day roll, and on the first write. The snapshot
  carries a generation; journal lines of another generation are ignored, so a process killed
  between the new snapshot and emptying the journal loses nothing and replays nothing twice.
- All of it happens under the caller's file lock (SimTrader), and `stamp` names both files'
  versions, so another process of the terminal sees every change and reloads.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.rules.loose_types import JsonObject
from common.rules.orders import OPEN_STATUSES
from worker.sim import book as books

JOURNAL_FILE = "sim_state.journal"
COMPACT_BYTES = 4 * 1024 * 1024  # fold the journal into the snapshot past this size: reloads stay quick


class Store:
    """Loads and saves one terminal's books; remembers what the files hold, to write only the change."""

    def __init__(self, path: Path, starting_cash: float, start_day: str | None = None):
        self.path = path
        self.journal = path / JOURNAL_FILE
        self._starting_cash = starting_cash
        self._start_day = start_day
        self._next_order_id = 0  # the first order id not yet on disk
        self._open: dict[str, dict[int, dict]] = {}  # per account, the orders open when last written, as written
        self._trades: dict[str, int] = {}  # per account, how many trades are on disk
        self._on_disk = False

    def stamp(self) -> tuple | None:
        """What identifies the books' version on disk (both files); None when there are none yet."""
        snapshot = books.stamp(self.path)
        if snapshot is None:
            return None
        try:
            found = self.journal.stat()
        except FileNotFoundError:
            return snapshot
        return (*snapshot, found.st_ino, found.st_size)

    def load(self) -> books.Book:
        """The snapshot with the journal's lines of its generation replayed; a torn last line is cut off."""
        book = books.load(self.path, self._starting_cash, self._start_day)
        self._on_disk = (self.path / books.STATE_FILE).exists()
        try:
            raw = self.journal.read_bytes()
        except FileNotFoundError:
            raw = b""
        whole = raw[: raw.rfind(b"\n") + 1]
        if len(whole) != len(raw):
            with open(self.journal, "r+b") as handle:
                handle.truncate(len(whole))
        for line in whole.splitlines():
            entry = json.loads(line)
            if entry.get("g") == book.generation:
                _apply(book, entry)
        self._mark(book)
        return book

    def save(self, book: books.Book, full: bool = False) -> None:
        """Write what changed since the last load or save; a whole snapshot when `full` or it is due."""
        if full or not self._on_disk or set(book.accounts) != set(self._open) or self._journal_size() > COMPACT_BYTES:
            self._compact(book)
            return
        entry: JsonObject = {"g": book.generation, "day": book.day, "next_order_id": book.next_order_id, "next_trade_id": book.next_trade_id}
        accounts: JsonObject = {}
        still_open: dict[str, dict[int, dict]] = {}
        for account_id, account in book.accounts.items():
            known = self._trades[account_id]
            if len(account.trades) < known:  # trades were dropped: only a snapshot says that
                self._compact(book)
                return
            written = self._open[account_id]
            current = {i: account.orders[i] for i in written if i in account.orders}
            current.update({i: account.orders[i] for i in range(self._next_order_id, book.next_order_id) if i in account.orders})
            # an open order is written again only when it changed: a day of resting orders costs each save no more
            changed = {i: order for i, order in current.items() if written.get(i) != order}
            still_open[account_id] = {
                i: dict(order) if i in changed else written[i] for i, order in current.items() if order["status"] in OPEN_STATUSES
            }
            accounts[account_id] = {
                "cash": account.cash,
                "frozen_cash": account.frozen_cash,
                "positions": {code: vars(holding) for code, holding in account.positions.items()},
                "loans": [vars(loan) for loan in account.loans],
                "orders": changed,
                "trades_from": known,
                "trades": account.trades[known:],
            }
        entry["accounts"] = accounts
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with open(self.journal, "ab") as handle:
            handle.write(line)
        self._next_order_id, self._open = book.next_order_id, still_open
        self._trades = {aid: len(a.trades) for aid, a in book.accounts.items()}

    def _compact(self, book: books.Book) -> None:
        book.generation += 1
        books.save(self.path, book)  # atomic: the old snapshot and journal, or the new snapshot (whose generation skips the journal)
        with open(self.journal, "wb"):
            pass
        self._on_disk = True
        self._mark(book)

    def _journal_size(self) -> int:
        try:
            return self.journal.stat().st_size
        except FileNotFoundError:
            return 0

    def _mark(self, book: books.Book) -> None:
        self._next_order_id = book.next_order_id
        self._open = {aid: {i: dict(o) for i, o in a.orders.items() if o["status"] in OPEN_STATUSES} for aid, a in book.accounts.items()}
        self._trades = {aid: len(a.trades) for aid, a in book.accounts.items()}


def _apply(book: books.Book, entry: JsonObject) -> None:
    book.day, book.next_order_id, book.next_trade_id = entry["day"], entry["next_order_id"], entry["next_trade_id"]
    for account_id, change in entry["accounts"].items():
        account = book.account(account_id)
        account.cash, account.frozen_cash = change["cash"], change["frozen_cash"]
        account.positions = {code: books.Holding(**h) for code, h in change["positions"].items()}
        account.loans = [books.Loan(**loan) for loan in change["loans"]]
        account.orders.update({int(i): order for i, order in change["orders"].items()})
        del account.trades[change["trades_from"] :]
        account.trades.extend(change["trades"])
