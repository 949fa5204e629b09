"""Symbol normalisation and the lot rules the door checks."""

from __future__ import annotations

import pytest

from common.rules.exceptions import InvalidSymbol, LotSizeViolation
from common.rules.symbols import Board, check_buy_volume, check_sell_volume, instrument, is_on_tick, normalize, round_down_volume


@pytest.mark.parametrize(
    ("given", "code", "board"),
    [
        ("000001", "000001.SZ", Board.MAIN),
        ("sz000001", "000001.SZ", Board.MAIN),
        ("000001.SZ", "000001.SZ", Board.MAIN),
        (" 000001.sz ", "000001.SZ", Board.MAIN),
        ("SH600000", "600000.SH", Board.MAIN),
        ("600000.XSHG", "600000.SH", Board.MAIN),
        ("688981", "688981.SH", Board.STAR),
        ("300750", "300750.SZ", Board.CHINEXT),
        ("510300", "510300.SH", Board.FUND),
        ("159915", "159915.SZ", Board.FUND),
        ("113050", "113050.SH", Board.CONVERTIBLE),
        ("123107.SZ", "123107.SZ", Board.CONVERTIBLE),
        ("131810", "131810.SZ", Board.REPO),
        ("204001", "204001.SH", Board.REPO),
        ("920118", "920118.BJ", Board.BEIJING),
        ("bj430047", "430047.BJ", Board.BEIJING),
    ],
)
def test_symbols_normalise_to_xtquant_form(given, code, board):
    assert normalize(given) == code
    assert instrument(given).board is board


@pytest.mark.parametrize("given", ["", "00001", "AAPL", "999999", "000001.HK", "600000.SZ", "sh000001x", None])
def test_unknown_symbols_are_refused(given):
    with pytest.raises(InvalidSymbol) as caught:
        instrument(given)
    assert caught.value.field == "symbol"


@pytest.mark.parametrize(
    ("symbol", "ok", "bad"),
    [
        ("600000", [100, 200, 1_000_000], [50, 150, 1_000_100]),
        ("300750", [100, 300_000], [150, 300_100]),
        ("688981", [200, 201, 999], [100, 199]),
        ("920118", [100, 101], [99]),
        ("113050", [10, 20], [5, 15]),
        ("131810", [10, 1000], [1, 15]),
    ],
)
def test_buy_lots_per_board(symbol, ok, bad):
    inst = instrument(symbol)
    for volume in ok:
        check_buy_volume(inst, volume)
    for volume in bad:
        with pytest.raises(LotSizeViolation):
            check_buy_volume(inst, volume)


def test_an_odd_lot_sell_must_close_the_remainder():
    inst = instrument("600000")
    check_sell_volume(inst, 150, can_use_volume=150)
    check_sell_volume(inst, 100, can_use_volume=150)
    with pytest.raises(LotSizeViolation, match="odd lot"):
        check_sell_volume(inst, 50, can_use_volume=150)
    with pytest.raises(LotSizeViolation, match="exceeds the sellable"):
        check_sell_volume(inst, 200, can_use_volume=150)


def test_round_down_and_ticks():
    assert round_down_volume(instrument("600000"), 1234.9) == 1200
    assert round_down_volume(instrument("688981"), 199) == 0
    assert round_down_volume(instrument("688981"), 250.5) == 250
    assert is_on_tick(instrument("600000"), 10.01) and not is_on_tick(instrument("600000"), 10.015)
    assert is_on_tick(instrument("510300"), 4.123) and is_on_tick(instrument("600000"), 0.1 + 0.2)
