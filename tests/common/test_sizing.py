"""Sizing with concrete numbers: pct buys and sells, all-in, the repo sweep."""

from __future__ import annotations

import pytest

from common.rules.exceptions import SizeRoundsToZero
from common.rules.sizing import Fees, allin_volume, pct_buy_volume, pct_sell_volume, repo_volume
from common.rules.symbols import instrument

FEES = Fees()


def test_pct_buy_sizes_from_total_asset_and_rounds_down_to_a_lot():
    # 10% of 1,000,000 = 100,000 yuan at 10.00 → 10,000 shares would cost 100,000 + 25 + 1 in fees: one lot less.
    assert pct_buy_volume(instrument("600000"), 1_000_000, 10.0, 0.10, cash=1_000_000, fees=FEES) == 9_900
    # capped by cash
    assert pct_buy_volume(instrument("600000"), 1_000_000, 10.0, 0.50, cash=20_000, fees=FEES) == 1_900
    # STAR: 200 minimum, then steps of 1
    assert pct_buy_volume(instrument("688981"), 100_000, 50.0, 0.2, cash=100_000, fees=FEES) == 399


def test_pct_buy_that_rounds_to_zero_is_refused_with_the_reason():
    with pytest.raises(SizeRoundsToZero, match="buys no legal lot") as caught:
        pct_buy_volume(instrument("600519"), 100_000, 1500.0, 0.5, cash=100_000, fees=FEES)
    assert caught.value.field == "position_pct"


def test_pct_sell_sizes_from_the_sellable_holding():
    assert pct_sell_volume(instrument("600000"), 1_050, 0.5) == 500
    assert pct_sell_volume(instrument("600000"), 1_050, 1.0) == 1_050  # all of it, odd lot included
    with pytest.raises(SizeRoundsToZero, match="less than one lot"):
        pct_sell_volume(instrument("600000"), 150, 0.5)
    with pytest.raises(SizeRoundsToZero, match="nothing of 600000.SH is sellable"):
        pct_sell_volume(instrument("600000"), 0, 0.5)


def test_allin_leaves_room_for_fees():
    # 10,005 yuan at 10.00: 1,000 shares cost 10,000 + 5 (minimum commission) + 0.10 transfer > 10,005 → 900.
    assert allin_volume(instrument("600000"), 10_005, 10.0, FEES) == 900
    assert allin_volume(instrument("600000"), 10_005.10, 10.0, FEES) == 1_000
    with pytest.raises(SizeRoundsToZero):
        allin_volume(instrument("600000"), 900, 10.0, FEES)


def test_repo_lends_cash_minus_reserve_in_steps_of_ten():
    assert repo_volume(instrument("131810"), 125_678.9, 20_000, FEES) == 1_050  # 105,678.9 → 105,000 yuan = 1,050 张
    assert repo_volume(instrument("204001"), 1_000.02, 0, FEES) == 10
    with pytest.raises(SizeRoundsToZero, match="below the 1,000-yuan minimum"):
        repo_volume(instrument("131810"), 10_999, 10_000, FEES)
