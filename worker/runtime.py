"""What job functions reach for while they run: settings, Redis, broker sessions, the callback recorder.

RQ calls job functions by dotted path with only their payload; the worker process installs one
Runtime before it starts taking jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from common.config.settings import Settings
from common.rules.exceptions import BrokerUnavailable
from common.store import stream_backlog
from worker.broker_api import BrokerAccounts
from worker.callbacks import OrderEventRecorder
from worker.in_flight import InFlight
from worker.lease import Lease
from worker.prior_sends import PriorSends


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    brokers: BrokerAccounts  # worker.broker.Brokers in the worker; a fake in tests
    recorder: OrderEventRecorder
    lease: Lease | None = None  # the terminal's lease: checked right before every send (the fence)
    # the running job's audit entry and closing events, written with its result in RQ's transaction (worker.runner);
    # None (a job function called outside the worker's loop): written at once
    batch: stream_backlog.Batch | None = None
    # room for BROKER_IN_FLIGHT order sends outstanding (worker.in_flight); None: each order waits for its broker's answer
    in_flight: InFlight | None = None
    # the broker's orders when this process started, for the jobs queued before it (worker.prior_sends); None: not looked up
    prior: PriorSends | None = None


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise BrokerUnavailable("this process holds no broker session (jobs run only inside the worker)")
    return _current
