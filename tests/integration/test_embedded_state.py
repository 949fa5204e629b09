"""`python run.py` keeps what it holds across a restart: risk limits, the kill switch, routines, jobs and events,
from a clean stop exactly and after a SIGKILL as they were a second before; orders it accepted run once."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from common.store import jobqueue
from common.store.payloads import QueryPayload
from tests.integration.embedded_run import Embedded
from tests.support import sim_prices_file, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ROUTINE = {"name": "kept-sweep", "kind": "nhg", "time": "14:57", "accounts": "all", "reserve_amount": 1000, "enabled": False}


def _orders(run: Embedded) -> list[dict]:
    answer = run.http.post(f"{API}/orders", {"trader_index": 0, "cancelable_only": False})
    assert "orders" in answer.body, (answer, run.log[-3000:])
    return answer.body["orders"]


def _copied_since(snapshot: Path, moment: float) -> Callable[[], bool]:
    """A wait on the periodic copies (every second): true once one begun after `moment` is in place. The first copy
    written after `moment` may have been read from the store before it; the next one was begun after that one was in
    place."""
    written: list[float] = []

    def check() -> bool:
        stamp = snapshot.stat().st_mtime if snapshot.exists() else 0.0
        if stamp > moment and stamp not in written:
            written.append(stamp)
        return len(written) >= 2

    return check


def test_the_embedded_run_keeps_its_state_across_a_clean_stop_and_a_sigkill(tmp_path):
    run = Embedded(tmp_path)
    run.start()
    snapshot = Path(run.env["VAR_DIR"]) / "embedded-redis.snapshot"
    try:
        # only what was generated is kept (.env here sets the admin password and the client): the file says so
        kept = Path(run.env["VAR_DIR"]) / "embedded-credentials.env"
        assert sorted(line.split("=")[0] for line in kept.read_text().splitlines()) == ["FLASK_SECRET_KEY", "TRADER_PASSWORD"]
        assert f"generated credentials (kept in {kept})" in run.log
        admin = run.admin()
        run.call(admin, "PUT", f"{API}/risk", {"max_order_notional": 123_456, "blocked_symbols": ["000002.SZ"]})
        run.call(admin, "PUT", f"{API}/routines", {"routines": [ROUTINE]})
        resting = [
            run.http.post(
                f"{API}/trade", {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 9.6, "order_type": 23, "strategy_name": f"r{i}"}
            )
            for i in range(3)
        ]
        job_ids = [answer.body["job_id"] for answer in resting]
        assert all(run.http.get(f"{API}/jobs/{j}", query="wait=10").body["status"] == "finished" for j in job_ids)
        run.call(admin, "POST", f"{API}/risk/kill_switch", {"on": True})
        run.stop(signal.SIGTERM)
        assert "Traceback" not in run.log

        run.start()
        assert "restored from the last clean stop" in run.log
        admin = run.admin()
        limits = run.call(admin, "GET", f"{API}/risk")["limits"]
        assert (limits["max_order_notional"], limits["blocked_symbols"], limits["kill_switch"]) == (123_456, ["000002.SZ"], True)
        assert [r["name"] for r in run.call(admin, "GET", f"{API}/routines")["routines"]] == ["kept-sweep"]
        assert all(run.http.get(f"{API}/jobs/{j}").body["result"]["outcome"] == "submitted" for j in job_ids)  # jobs kept
        remarks = [o["order_remark"] for o in _orders(run)]
        assert sorted(remarks) == sorted(job_ids), remarks  # each sent once, none again
        events = run.http.get(f"{API}/events", query="last=200").body["events"]
        assert any(e["kind"] == "kill_switch" for e in events)  # events kept

        run.call(admin, "POST", f"{API}/risk/kill_switch", {"on": False})
        run.call(admin, "PUT", f"{API}/risk", {"max_order_notional": 654_321})
        assert wait_until(_copied_since(snapshot, time.time()), 30)  # a periodic copy begun after the change is in place
        run.stop(signal.SIGKILL)

        run.start()
        assert "restored from a copy up to a second old" in run.log
        limits = run.call(run.admin(), "GET", f"{API}/risk")["limits"]
        assert (limits["max_order_notional"], limits["kill_switch"]) == (654_321, False)
        assert sorted(o["order_remark"] for o in _orders(run)) == sorted(job_ids)
    finally:
        if run.process is not None and run.process.poll() is None:
            run.stop(signal.SIGINT)


def test_a_restored_queued_order_already_sent_is_not_sent_again(tmp_path, monkeypatch):
    """A copy up to a second old can show an order still queued that was sent since: the worker looks for its tag first."""
    import fakeredis

    from common.store.embedded_state import Snapshots
    from tests.support import make_settings, order_payload
    from worker.runner import serve

    settings = make_settings(VAR_DIR=str(tmp_path / "var"), SIM_PRICES_FILE=sim_prices_file(tmp_path))
    before = fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))
    job_id = jobqueue.enqueue(before, order_payload(), settings.JOB_TTL)
    Snapshots(before, settings.VAR_DIR).save()  # the periodic copy: the job still queued
    serve(settings, before, burst=True)  # ... then the order is sent, and the process is killed before the next copy
    assert jobqueue.view(before, job_id).result["outcome"] == "submitted"

    after = fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))
    assert Snapshots(after, settings.VAR_DIR).restore() == "crash"
    assert jobqueue.view(after, job_id).status == "queued"
    serve(settings, after, burst=True)
    result = jobqueue.view(after, job_id).result
    assert result["outcome"] == "submitted", result
    query = jobqueue.enqueue(after, QueryPayload(what="orders", account_index=0), 60)
    serve(settings, after, burst=True)
    assert [o["order_remark"] for o in jobqueue.view(after, query).result] == [job_id]  # once at the broker
