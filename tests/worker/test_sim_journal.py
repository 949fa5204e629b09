"""The simulator's journal: what one process wrote, another (or a restart) reads back whole, whatever was cut."""

from __future__ import annotations

from tests.support import sim_prices_file
from worker.sim import book as books
from worker.sim import journal
from worker.sim.trader import SimTrader
from worker.xtquant_sdk import xttype

ACCOUNT = xttype.StockAccount("SIM000001")


def _trader(tmp_path, session: int) -> SimTrader:
    trader = SimTrader(str(tmp_path / "sim"), session, prices_file=sim_prices_file(tmp_path))
    trader.start()
    trader.connect()
    trader.subscribe(ACCOUNT)
    return trader


def _plain(trader: SimTrader) -> dict:
    return books._plain(trader.book)  # noqa: SLF001 - the books as the snapshot writes them, to compare


def test_a_reload_sees_every_change_through_the_journal(tmp_path):
    trader = _trader(tmp_path, 1)
    try:
        filled = trader.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 10.0, "", "fill")
        resting = trader.order_stock(ACCOUNT, "600000.SH", 23, 200, 11, 9.5, "", "rest")
        other = trader.order_stock(ACCOUNT, "000001.SZ", 23, 100, 11, 10.5, "", "rest2")
        assert trader.cancel_order_stock(ACCOUNT, resting) == 0
        trader.set_price("000001.SZ", 10.4)  # the resting buy at 10.5 fills
        assert (tmp_path / "sim" / journal.JOURNAL_FILE).stat().st_size > 0  # the changes went to the journal
        again = SimTrader(str(tmp_path / "sim"), 2, prices_file=sim_prices_file(tmp_path))
        assert _plain(again) == _plain(trader)
        assert {filled, resting, other} <= set(again.book.account("SIM000001").orders)
    finally:
        trader.stop()


def test_a_torn_last_line_is_cut_and_the_next_change_still_reads_back(tmp_path):
    trader = _trader(tmp_path, 1)
    try:
        trader.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 10.0, "", "one")
        before = _plain(trader)
        with open(tmp_path / "sim" / journal.JOURNAL_FILE, "ab") as handle:
            handle.write(b'{"g":1,"day":"torn')  # a process killed mid-write
        again = _trader(tmp_path, 2)
        assert _plain(again) == before
        again.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 10.0, "", "two")
        third = SimTrader(str(tmp_path / "sim"), 3, prices_file=sim_prices_file(tmp_path))
        assert sorted(o["order_remark"] for o in third.book.account("SIM000001").orders.values()) == ["one", "two"]
        again.stop()
    finally:
        trader.stop()


def test_the_journal_is_folded_into_the_snapshot_past_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "COMPACT_BYTES", 2000)
    trader = _trader(tmp_path, 1)
    try:
        for index in range(30):
            trader.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 10.0, "", f"o{index}")
        assert (tmp_path / "sim" / journal.JOURNAL_FILE).stat().st_size <= 2000 + 4000
        assert trader.book.generation > 2
        again = SimTrader(str(tmp_path / "sim"), 2, prices_file=sim_prices_file(tmp_path))
        assert _plain(again) == _plain(trader)
    finally:
        trader.stop()


def test_a_snapshot_of_a_newer_generation_skips_the_old_journal(tmp_path):
    """Killed between the new snapshot and emptying the journal: the journal's lines are not replayed on top."""
    trader = _trader(tmp_path, 1)
    try:
        trader.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 10.0, "", "one")
        stale = (tmp_path / "sim" / journal.JOURNAL_FILE).read_bytes()
        assert stale
        trader.roll_day()  # a full snapshot
        (tmp_path / "sim" / journal.JOURNAL_FILE).write_bytes(stale)
        again = SimTrader(str(tmp_path / "sim"), 2, prices_file=sim_prices_file(tmp_path), auto_roll=False)
        assert again.book.day == trader.book.day
        assert _plain(again) == _plain(trader)
    finally:
        trader.stop()


def test_an_order_rewrites_no_resting_order_that_did_not_change_and_a_fill_of_one_reads_back(tmp_path):
    trader = _trader(tmp_path, 1)
    try:
        resting = [trader.order_stock(ACCOUNT, "600000.SH", 23, 100, 11, 9.6, "", f"rest{n}") for n in range(30)]
        path = tmp_path / "sim" / journal.JOURNAL_FILE
        before = path.stat().st_size
        new = trader.order_stock(ACCOUNT, "000001.SZ", 23, 100, 11, 10.4, "", "new")
        line = path.read_bytes()[before:].decode()
        assert line.count("\n") == 1 and '"rest' not in line and '"new"' in line  # the new order only, not the 30 resting
        trader.set_price("600000.SH", 9.5)  # every resting buy at 9.60 fills: each is written again, changed
        again = SimTrader(str(tmp_path / "sim"), 2, prices_file=sim_prices_file(tmp_path))
        assert _plain(again) == _plain(trader)
        assert all(again.book.account("SIM000001").orders[i]["traded_volume"] == 100 for i in resting)
        assert new in again.book.account("SIM000001").orders
    finally:
        trader.stop()
