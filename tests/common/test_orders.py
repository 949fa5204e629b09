"""common.rules.orders: its copies of xtquant's numbers match xtconstant, and common/, api/, scheduler/ never load xtquant."""

from __future__ import annotations

import pytest

from common.rules import orders
from common.store import jobqueue
from tests.import_probe import run_probe
from worker.xtquant_sdk import xtconstant

# Every xtconstant number common.rules.orders keeps a copy of; a name added there must be added here too.
COPIED_NAMES = (
    "STOCK_BUY",
    "STOCK_SELL",
    "LATEST_PRICE",
    "FIX_PRICE",
    "MARKET_SH_CONVERT_5_CANCEL",
    "MARKET_PEER_PRICE_FIRST",
    "MARKET_MINE_PRICE_FIRST",
    "MARKET_SZ_CONVERT_5_CANCEL",
    "MARKET_SZ_FULL_OR_CANCEL",
    "ORDER_UNREPORTED",
    "ORDER_WAIT_REPORTING",
    "ORDER_REPORTED",
    "ORDER_REPORTED_CANCEL",
    "ORDER_PARTSUCC_CANCEL",
    "ORDER_PART_CANCEL",
    "ORDER_CANCELED",
    "ORDER_PART_SUCC",
    "ORDER_SUCCEEDED",
    "ORDER_JUNK",
    "ORDER_UNKNOWN",
)
SDK_FREE = ("common.*", "api.*", "scheduler.*")  # the web and the scheduler run without the broker SDK


@pytest.mark.parametrize("name", COPIED_NAMES)
def test_each_copied_number_matches_xtconstant(name):
    assert getattr(orders, name) == getattr(xtconstant, name)


def test_every_number_named_after_xtconstant_is_pinned():
    shared = {name for name, value in vars(orders).items() if name.isupper() and isinstance(value, int) and hasattr(xtconstant, name)}
    assert shared == set(COPIED_NAMES)


def test_the_market_price_types_are_every_sh_and_sz_market_type_of_xtconstant():
    market = {
        value
        for name, value in vars(xtconstant).items()
        if name.startswith(("MARKET_SH_", "MARKET_SZ_", "MARKET_PEER_", "MARKET_MINE_")) and isinstance(value, int)
    }
    assert market == orders.MARKET_XT_PRICE_TYPES


def test_sides_and_the_late_rejection_status_use_the_named_numbers():
    assert (orders.BUY, orders.SELL) == (xtconstant.STOCK_BUY, xtconstant.STOCK_SELL)
    assert jobqueue.REJECTED_STATUS == xtconstant.ORDER_JUNK


def test_common_api_and_scheduler_import_without_xtquant(tmp_path):
    report, printed = run_probe(tmp_path, *SDK_FREE)
    assert {"common.rules.orders", "common.store.jobqueue", "api.trade_api", "scheduler.service"} <= set(report["imported"])
    assert not report["xtquant_imported"]
    assert report["network_attempts"] == [] and printed == ""
