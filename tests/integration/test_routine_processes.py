"""Two scheduler processes side by side through a routine's fire time: one sweep, one set of jobs, one loan.

The roles' clocks are shifted (CLOCK_OFFSET_SECONDS) to a few seconds before 14:57 on a trading day.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from common.config.clock import SHANGHAI
from common.desk import routine_runs
from common.store import jobqueue, keys
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready
from tests.support import wait_until

pytestmark = pytest.mark.integration
FIRE_AT = datetime(2026, 12, 1, 14, 57, 0, tzinfo=SHANGHAI)  # a Tuesday


def test_two_schedulers_fire_a_sweep_once(roles, http, role_env, real_redis):
    offset = FIRE_AT.timestamp() - 4 - time.time()  # the shifted clocks read 14:56:56 now
    role_env.update(
        CLOCK_OFFSET_SECONDS=str(offset),
        SIM_STARTING_CASH="105600",
        ROUTINES=json.dumps([{"name": "nhg-daily", "kind": "nhg", "time": "14:57", "accounts": [0, 1], "reserve_amount": 5000}]),
    )
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    roles.start("scheduler", name="scheduler-1")
    roles.start("scheduler", name="scheduler-2")  # a second process of the same role, side by side

    def settled() -> routine_runs.RoutineRun | None:
        run = routine_runs.read(real_redis, "nhg-daily", "2026-12-01")
        return run if run and run.state in ("done", "failed", "no_op") else None

    assert wait_until(settled, 60, 0.2), f"the sweep did not settle: {routine_runs.read(real_redis, 'nhg-daily', '2026-12-01')}"
    run = settled()
    assert run.state == "done" and run.outcome["lent"] == 200_000 and len(run.job_ids) == 2  # 100,000 on each account
    leader_seconds_later = time.time() + 3
    assert wait_until(lambda: time.time() > leader_seconds_later, 5)  # both schedulers tick on past the fire time
    assert routine_runs.read(real_redis, "nhg-daily", "2026-12-01").job_ids == run.job_ids
    for account in (0, 1):
        orders = jobqueue.wait(real_redis, jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=account), 600), 10)
        assert [o["symbol"] for o in orders.result] == ["131810.SZ"], orders.result  # one loan per account, not two
    status = json.loads(real_redis.get(keys.CALENDAR_STATUS))
    assert status["today"] == "2026-12-01" and status["session"] is True
    routines = http.get("/qmt/trade/api/routines").body
    [listed] = routines["routines"]
    assert listed["last"]["state"] == "done" and listed["next_fire"].startswith("2026-12-02T14:57")
