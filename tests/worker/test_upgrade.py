"""Upgrades: a job queued by an earlier version (its function path and payload as they were) still runs;
a job naming a function this worker does not run fails with a clear, recorded error instead of vanishing."""

from __future__ import annotations

import time

import pytest

from common.store import jobqueue, keys
from tests.support import make_settings, sim_prices_file
from worker.runner import serve

# Exactly what the version before the one-way-in refactor put on the queues (function path, payload JSON).
QUEUED_BY_THE_PREVIOUS_VERSION = [
    (
        "order",
        "worker.jobs.run_order",
        {
            "kind": "order",
            "account_index": 0,
            "account_id": "SIM000001",
            "symbol": "600000.SH",
            "order_type": 23,
            "volume": 100,
            "price": 10.0,
            "price_type": 0,
            "xt_price_type": 11,
            "sizing": "volume",
            "position_pct": None,
            "reserve_amount": 0.0,
            "strategy_name": "old",
            "deadline": None,
            "meta": {"client_id": "test-client", "source": "127.0.0.1", "created_at": None},
        },
    ),
    (
        "cancel",
        "worker.jobs.run_cancel",
        {
            "kind": "cancel",
            "account_index": 0,
            "account_id": "SIM000001",
            "order_id": None,
            "side": "sell",
            "meta": {"client_id": "test-client", "source": "127.0.0.1", "created_at": None},
        },
    ),
    (
        "query",
        "worker.jobs.run_query",
        {
            "kind": "query",
            "what": "positions",
            "account_index": 0,
            "account_id": "SIM000001",
            "order_id": None,
            "cancelable_only": False,
            "meta": {"client_id": "test-client", "source": "127.0.0.1", "created_at": None},
        },
    ),
]


@pytest.fixture
def settings(tmp_path):
    return make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))


def enqueue_raw(connection, queue_name: str, func: str, payload: dict, job_id: str) -> None:
    """As RQ stored the previous version's jobs: the function by dotted path, the payload as JSON kwargs."""
    jobqueue.queue(connection, queue_name).enqueue_call(
        func, kwargs={"payload": payload}, job_id=job_id, timeout=-1, meta={"kind": queue_name, "client_id": "test-client"}
    )


def test_jobs_queued_by_the_previous_version_run_on_this_worker(settings, fake_redis):
    now = time.time()
    for number, (queue_name, func, payload) in enumerate(QUEUED_BY_THE_PREVIOUS_VERSION):
        payload = {**payload, "meta": {**payload["meta"], "created_at": now}}
        if "deadline" in payload:
            payload["deadline"] = now + 60
        enqueue_raw(fake_redis, queue_name, func, payload, f"{queue_name[0]}{number:016x}")
    serve(settings, fake_redis, burst=True)
    order, cancel, query = (jobqueue.view(fake_redis, f"{q[0]}{n:016x}") for n, (q, _, _) in enumerate(QUEUED_BY_THE_PREVIOUS_VERSION))
    assert order.status == "finished" and order.result["outcome"] == "submitted" and order.result["symbol"] == "600000.SH"
    assert cancel.status == "finished" and cancel.result["accepted"] is True
    [held] = query.result  # the query ran last (cancel > order > query) and sees the filled buy
    assert query.status == "finished" and (held["symbol"], held["volume"]) == ("600000.SH", 100)


def test_a_job_naming_an_unknown_function_fails_with_a_clear_error_and_runs_nothing(settings, fake_redis):
    enqueue_raw(fake_redis, keys.ORDER_QUEUE, "worker.retired_module.run_order", QUEUED_BY_THE_PREVIOUS_VERSION[0][2], "o" + "a" * 16)
    enqueue_raw(fake_redis, keys.ORDER_QUEUE, "os.system", {"kind": "order"}, "o" + "b" * 16)
    serve(settings, fake_redis, burst=True)
    for job_id, named in (("o" + "a" * 16, "worker.retired_module.run_order"), ("o" + "b" * 16, "os.system")):
        view = jobqueue.view(fake_redis, job_id)
        assert view.status == "failed"
        assert "UnknownJobFunction" in view.error and named in view.error and "drain the queues" in view.error
