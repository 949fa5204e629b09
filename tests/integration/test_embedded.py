"""`python run.py`: web, worker and scheduler in one process on the in-process Redis stand-in."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT
from tests.support import CLIENT_ID, CLIENT_SECRET, KEEP_BYTECODE_AWAY, SignedHttpClient, free_port, wait_until

pytestmark = pytest.mark.integration


def test_the_readme_run_command_serves_signed_orders_end_to_end(tmp_path):
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        **KEEP_BYTECODE_AWAY,
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": "",  # the embedded default, whatever a developer's .env says
        "BROKER": "sim",
        "TRADER_CONFIGS": "",
        "FLASK_PORT": str(port),
        "QMT_CLIENT_ACCOUNT": CLIENT_ID,
        "QMT_CLIENT_SECRET": CLIENT_SECRET,
        "VAR_DIR": str(tmp_path / "var"),  # run.py works in the checkout: its run-time files go here instead
    }
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    http = SignedHttpClient(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            return http.get("/qmt/trade/api/health").body.get("ready") is True
        except OSError:
            return False

    try:
        assert wait_until(ready, 60, 0.1), log_path.read_text()
        banner = log_path.read_text()
        assert f"http://127.0.0.1:{port}/qmt/trade/api/health" in banner
        assert "SIM000001" in banner  # the default simulator account
        assert CLIENT_SECRET not in banner  # configured secrets are never printed

        # no prices file: the simulator's seeded quote for 000001.SZ moves within 3% of 10.39 from day to day, so a limit
        # there is inside the 5% band on any day (11.0 was refused on days the quote opened low)
        # the client is one of the old server's (QMT_CLIENT_*): the answer waits for the broker's verdict, in the old shape
        answered = http.post("/qmt/trade/api/trade", {"trader_index": 0, "symbol": "000001.SZ", "volume": 200, "price": 10.39, "order_type": 23})
        assert answered.status == 200 and answered.body["success"] is True, answered.body
        [verdict] = answered.body["results"]
        assert verdict["status"] == "success" and verdict["result"]["order_id"] > 0, verdict
        job = http.get(f"/qmt/trade/api/jobs/{verdict['job_id']}")
        assert job.body["status"] == "finished" and job.body["result"]["order_id"] == verdict["result"]["order_id"], job.body
        accounts = http.get("/qmt/trade/api/accounts")
        assert accounts.status == 200 and accounts.body["accounts"][0]["account_id"] == "SIM000001"
        [sample] = http.get("/qmt/trade/api/routines").body["routines"]  # a newcomer sees one routine, switched off
        assert (sample["name"], sample["kind"], sample["enabled"], sample["next_fire"]) == ("nhg-sample", "nhg", False, None)
        assert "ROUTINES" not in banner
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log_path.read_text()
