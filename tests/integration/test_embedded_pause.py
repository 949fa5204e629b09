"""`python run.py` paused longer than the worker's lease (a laptop asleep, a debugger) goes on when it wakes: with one
process there is no other worker, so the lease that lapsed is taken again, never read as lost to another."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import ROOT
from tests.support import CLIENT_ID, CLIENT_SECRET, KEEP_BYTECODE_AWAY, SignedHttpClient, free_port, wait_until

pytestmark = pytest.mark.integration
LEASE = 3  # WORKER_LEASE_SECONDS for this run: the pause below outlasts it


def test_the_embedded_run_paused_past_its_lease_goes_on_when_it_wakes(tmp_path):
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        **KEEP_BYTECODE_AWAY,
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": "",
        "BROKER": "sim",
        "TRADER_CONFIGS": "",
        "FLASK_PORT": str(port),
        "QMT_CLIENT_ACCOUNT": CLIENT_ID,
        "QMT_CLIENT_SECRET": CLIENT_SECRET,
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_LEASE_SECONDS": str(LEASE),
    }
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    http = SignedHttpClient(f"http://127.0.0.1:{port}")
    order = {"trader_index": 0, "symbol": "000001.SZ", "volume": 100, "price": 10.39, "order_type": 23}

    def ready() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            return http.get("/qmt/trade/api/health").body.get("ready") is True
        except OSError:
            return False

    def finished(strategy: str) -> bool:
        answer = http.post("/qmt/trade/api/trade", {**order, "strategy_name": strategy})
        assert answer.status == 202, answer.body
        return http.get(answer.body["status_url"], query="wait=10").body["status"] == "finished"

    try:
        assert wait_until(ready, 60, 0.1), log_path.read_text()
        assert finished("before")
        process.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        assert wait_until(lambda: time.monotonic() - paused > LEASE + 2, LEASE + 5)  # the pause is the point: past the lease
        process.send_signal(signal.SIGCONT)
        assert wait_until(lambda: "had lapsed and nobody held it" in log_path.read_text(), 20), log_path.read_text()
        assert process.poll() is None, log_path.read_text()
        assert "stands by" not in log_path.read_text() and "another worker" not in log_path.read_text()
        assert wait_until(lambda: finished(f"after-{time.monotonic()}"), 20), log_path.read_text()
    finally:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log_path.read_text()
