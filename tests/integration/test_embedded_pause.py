"""`python run.py` paused longer than the worker's lease (a laptop asleep, a debugger) goes on when it wakes: with one
process there is no other worker, so the lease that lapsed is taken again, never read as lost to another."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.embedded_run import Embedded
from tests.support import wait_until

pytestmark = pytest.mark.integration
LEASE = 3  # WORKER_LEASE_SECONDS for this run: the pause below outlasts it


def test_the_embedded_run_paused_past_its_lease_goes_on_when_it_wakes(tmp_path):
    run = Embedded(tmp_path, WORKER_LEASE_SECONDS=str(LEASE))
    order = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23}

    def finished(strategy: str) -> bool:
        answer = run.http.post("/qmt/trade/api/trade", {**order, "strategy_name": strategy})
        assert answer.status == 202, answer.body
        return run.http.get(answer.body["status_url"], query="wait=10").body["status"] == "finished"

    run.start()
    try:
        assert finished("before")
        run.process.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        assert wait_until(lambda: time.monotonic() - paused > LEASE + 2, LEASE + 5)  # the pause is the point: past the lease
        run.process.send_signal(signal.SIGCONT)
        assert wait_until(lambda: "had lapsed and nobody held it" in run.log, 20), run.log
        assert run.process.poll() is None, run.log
        assert "stands by" not in run.log and "another worker" not in run.log
        assert wait_until(lambda: finished(f"after-{time.monotonic()}"), 20), run.log
    finally:
        run.process.send_signal(signal.SIGCONT)
        run.stop(signal.SIGINT)
    assert run.process.returncode == 0, run.log
