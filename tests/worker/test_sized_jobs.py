"""Sized orders through the real worker loop and the simulator: the volume is decided where the account is known."""

from __future__ import annotations

import pytest

from common.rules.sizing import Fees, allin_volume
from common.rules.symbols import instrument
from common.store import jobqueue
from tests.support import make_settings, order_payload, sim_prices_file
from worker.runner import serve


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def run(settings, connection, payload):
    job_id = jobqueue.enqueue(connection, payload, settings.JOB_TTL)
    serve(settings, connection, burst=True)
    return jobqueue.view(connection, job_id)


def test_a_position_pct_buy_sizes_from_total_asset(settings, fake_redis):
    view = run(settings, fake_redis, order_payload(volume=0, sizing="position_pct", position_pct=0.1, price=10.0))
    assert view.status == "finished", view
    assert view.result["requested_volume"] == 0 and view.result["volume"] == 9_900  # 100,000 yuan less fees → 9,900 shares


def test_an_allin_buy_leaves_room_for_fees(settings, fake_redis):
    view = run(settings, fake_redis, order_payload(volume=0, sizing="allin", price=10.01))
    expected = allin_volume(instrument("600000"), settings.SIM_STARTING_CASH, 10.01, Fees())
    assert view.status == "finished" and view.result["volume"] == expected == 99_800


def test_a_pct_sell_of_nothing_fails_clearly_and_sends_nothing(settings, fake_redis):
    view = run(settings, fake_redis, order_payload(order_type=24, volume=0, sizing="position_pct", position_pct=0.5))
    assert view.status == "failed" and view.result["outcome"] == "not_submitted"
    assert "nothing of 600000.SH is sellable" in view.error and view.result["order_id"] is None


def test_the_repo_sweep_lends_cash_minus_the_reserve(settings, fake_redis):
    view = run(settings, fake_redis, order_payload(symbol="131810.SZ", order_type=24, volume=0, price=0, sizing="repo", reserve_amount=5_000))
    assert view.status == "finished", view
    assert (
        view.result["symbol"] in ("131810.SZ", "204001.SH") and view.result["volume"] == 9_940
    )  # 995,000 yuan less the 0.001% fee, in steps of 10 张 of 100 yuan
    assert view.result["price"] > 0  # the rate taken from the better quote
