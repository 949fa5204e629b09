"""What the owner hears about an order stays true through a killed worker, a later day and a broker that raises:
real web and worker processes, the simulator, the real Redis.

The worker is broken on purpose by a prelude that wraps the simulator's order_stock for one code (000001.SZ): it
dies (os._exit, as a SIGKILL would leave it) or raises, before or after the broker took the order.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from common.config.clock import SHANGHAI
from common.store import jobqueue
from common.store.payloads import QueryPayload
from tests.integration.broken_send import ORDER, prelude
from tests.integration.conftest import wait_ready
from tests.support import wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
TUESDAY = datetime(2026, 12, 1, 14, 0, 0, tzinfo=SHANGHAI)  # sessions, in continuous trading
WEDNESDAY = datetime(2026, 12, 2, 10, 0, 0, tzinfo=SHANGHAI)


def _offset(moment: datetime) -> str:
    return str(moment.timestamp() - time.time())


def _ended(real_redis, job_id: str, timeout: float = 30) -> dict:
    assert wait_until(lambda: jobqueue.view(real_redis, job_id).status in ("finished", "failed"), timeout), jobqueue.view(real_redis, job_id)
    view = jobqueue.view(real_redis, job_id)
    assert isinstance(view.result, dict) and view.result.get("outcome"), view  # an outcome, never a crashed job
    return view.result


def _orders(real_redis) -> list[dict]:
    return jobqueue.wait(real_redis, jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=0), 600), 15).result


def _events_of(http, job_id: str) -> list[dict]:
    return [e for e in http.get(f"{API}/events", query="last=500").body["events"] if e.get("job_id") == job_id]


def _died(roles, name: str = "worker") -> bool:
    return roles.processes[name].poll() is not None


@pytest.mark.parametrize(("when", "outcome"), [("after", "submitted"), ("before", "not_submitted")])
def test_a_worker_killed_at_the_send_is_settled_and_its_owner_told(roles, http, role_env, real_redis, when, outcome):
    role_env["CLOCK_OFFSET_SECONDS"] = _offset(TUESDAY)
    roles.start("api")
    roles.start("worker", prelude=prelude(when, "die"))
    wait_ready(http, roles)
    job_id = http.post(f"{API}/trade", ORDER).body["job_id"]
    assert wait_until(lambda: _died(roles), 30), roles.log("worker")
    roles.stop("worker")
    roles.start("worker")
    result = _ended(real_redis, job_id)
    assert result["outcome"] == outcome, result
    told = _events_of(http, job_id)
    assert all(e["client_id"] == "test-client" for e in told), told
    if outcome == "submitted":
        assert [o["order_remark"] for o in _orders(real_redis)] == [job_id]
        # recovery told the order's state, with its owner; the order's later states, after the restart, carry the owner too
        assert any(e["kind"] == "order" for e in told), told
        cancel = http.post(f"{API}/cancel_order", {"trader_index": 0, "order_id": result["order_id"]})
        assert cancel.status == 202, cancel.body

        def cancelled() -> list[dict]:
            return [e for e in _events_of(http, job_id) if e["kind"] == "order" and e.get("status") == "cancelled"]

        assert wait_until(cancelled, 20), _events_of(http, job_id)
        assert [e["client_id"] for e in cancelled()] == ["test-client"]
    else:
        assert _orders(real_redis) == []
        assert [e.get("stage") for e in told if e["kind"] == "job"] == ["accepted", "not_submitted"], told


def test_a_job_left_running_overnight_is_found_in_the_brokers_history_not_called_unsent(roles, http, role_env, real_redis):
    role_env["CLOCK_OFFSET_SECONDS"] = _offset(TUESDAY)
    roles.start("api")
    roles.start("worker", prelude=prelude("after", "die"))
    wait_ready(http, roles)
    job_id = http.post(f"{API}/trade", ORDER).body["job_id"]
    assert wait_until(lambda: _died(roles), 30), roles.log("worker")
    roles.stop("worker")
    roles.stop("api")

    role_env["CLOCK_OFFSET_SECONDS"] = _offset(WEDNESDAY)  # the next trading day: today's orders no longer hold it
    roles.start("api")
    roles.start("worker")
    result = _ended(real_redis, job_id)
    assert result["outcome"] == "submitted" and result["order_id"], result
    assert _orders(real_redis) == []  # not among Wednesday's orders: found in Tuesday's


def test_a_send_that_raises_is_reconciled_by_its_tag_never_failed(roles, http, role_env, real_redis):
    role_env["CLOCK_OFFSET_SECONDS"] = _offset(TUESDAY)
    roles.start("api")
    roles.start("worker", prelude=prelude("after", "raise"))
    wait_ready(http, roles)
    live = http.post(f"{API}/trade", ORDER).body["job_id"]
    result = _ended(real_redis, live)
    assert result["outcome"] == "submitted" and result["order_id"], result  # the broker took it before the error
    assert [o["order_remark"] for o in _orders(real_redis)] == [live]
    assert [e.get("stage") for e in _events_of(http, live) if e["kind"] == "job"] == ["accepted", "sent"]


def test_a_send_that_raises_before_the_broker_has_it_is_unknown_with_its_tag(roles, http, role_env, real_redis):
    role_env["CLOCK_OFFSET_SECONDS"] = _offset(TUESDAY)
    roles.start("api")
    roles.start("worker", prelude=prelude("before", "raise"))
    wait_ready(http, roles)
    job_id = http.post(f"{API}/trade", ORDER).body["job_id"]
    result = _ended(real_redis, job_id)
    assert result["outcome"] == "unknown" and f"look for order_remark {job_id} in QMT" in result["error"], result
    assert "No space left on device" in result["error"]
    told = [e.get("stage") for e in _events_of(http, job_id) if e["kind"] == "job"]
    assert told == ["accepted", "unknown"], told
    assert json.loads(real_redis.get(f"qmt:order:{job_id}") or "null") is None  # no order state invented


CALL_TIMEOUT = 1.0  # BROKER_CALL_TIMEOUT of the hang tests


def _hung_order(roles, http, role_env, real_redis, hang: float, order: dict = ORDER) -> tuple[str, dict]:
    """An order whose send hangs `hang` seconds before the broker takes it: its job id and the result it ended with."""
    role_env.update(CLOCK_OFFSET_SECONDS=_offset(TUESDAY), BROKER_CALL_TIMEOUT=str(CALL_TIMEOUT))
    roles.start("api")
    roles.start("worker", prelude=prelude("before", f"hang:{hang}"))
    wait_ready(http, roles)
    job_id = http.post(f"{API}/trade", order).body["job_id"]
    return job_id, _ended(real_redis, job_id)


def test_a_send_that_hangs_past_the_call_timeout_but_answers_within_as_long_again_ends_once(roles, http, role_env, real_redis):
    """The chaos run's find: a send answered after BROKER_CALL_TIMEOUT was told `unknown` and then filled, two ends."""
    job_id, result = _hung_order(roles, http, role_env, real_redis, CALL_TIMEOUT * 1.6)
    assert result["outcome"] == "submitted" and result["order_id"] and not result["error"], result
    assert [o["order_remark"] for o in _orders(real_redis)] == [job_id]
    assert [e.get("stage") for e in _events_of(http, job_id) if e["kind"] == "job"] == ["accepted", "sent"]
    assert "did not answer order_stock" in roles.log("worker")


def test_a_send_answered_after_the_job_ended_unknown_shows_the_order_the_broker_reported(roles, http, role_env, real_redis):
    job_id, result = _hung_order(roles, http, role_env, real_redis, CALL_TIMEOUT * 4)
    assert result["outcome"] == "unknown" and f"look for order_remark {job_id} in QMT" in result["error"], result

    def reported() -> dict | None:
        view = http.get(f"{API}/jobs/{job_id}").body
        return view if view["result"]["outcome"] == "submitted" else None

    assert wait_until(reported, 20), http.get(f"{API}/jobs/{job_id}").body
    view = reported()
    assert view and view["result"]["order_id"] == view["order"]["order_id"] and view["result"]["error"] is None, view
    assert "after the job ended" in view["result"]["resolved"], view
    # the owner hears it too: the unknown, then the order's "sent" with the broker's id, then the order's own state
    told = _events_of(http, job_id)
    assert [e.get("stage") for e in told if e["kind"] == "job"] == ["accepted", "unknown", "sent"], told
    assert [e["order_id"] for e in told if e.get("stage") == "sent"] == [view["result"]["order_id"]]
    assert [o["order_remark"] for o in _orders(real_redis)] == [job_id]


def test_a_rejection_the_broker_reports_after_the_job_ended_unknown_reads_rejected(roles, http, role_env, real_redis):
    """The attack's find: a sell refused by the broker after a long hang showed outcome "submitted" in GET /jobs."""
    job_id, result = _hung_order(roles, http, role_env, real_redis, CALL_TIMEOUT * 4, {**ORDER, "order_type": 24})  # nothing held
    assert result["outcome"] == "unknown", result

    def told() -> dict | None:
        view = http.get(f"{API}/jobs/{job_id}").body
        return view if view["result"]["outcome"] != "unknown" else None

    assert wait_until(told, 20), http.get(f"{API}/jobs/{job_id}").body
    view = told()
    assert view and view["status"] == "failed" and view["result"]["outcome"] == "rejected" and view["result"]["error"], view
