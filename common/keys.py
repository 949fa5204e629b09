"""Every queue name and Redis key the router uses, in one place (RQ's own keys stay RQ's)."""

from __future__ import annotations

PREFIX = "qmt"

# Queues in the worker's priority order: a cancel is never stuck behind an order backlog.
CANCEL_QUEUE = "cancel"
ORDER_QUEUE = "order"
QUERY_QUEUE = "query"
QUEUES_BY_PRIORITY = (CANCEL_QUEUE, ORDER_QUEUE, QUERY_QUEUE)

WORKER_HEARTBEAT = f"{PREFIX}:worker:heartbeat"  # hash: ts, pid, broker, host
SCHEDULER_HEARTBEAT = f"{PREFIX}:scheduler:heartbeat"
EVENTS_STREAM = f"{PREFIX}:events"  # order/trade/connection events, capped


def shared_query(question: str) -> str:
    """`<job id> <unix time queued>` of the latest query job for `question` (a digest), for callers who accept a recent answer."""
    return f"{PREFIX}:query:shared:{question}"


def order_state(job_id: str) -> str:
    """JSON: the latest broker view of the order a job placed (status, filled volume, avg price)."""
    return f"{PREFIX}:order:{job_id}"


def broker_connection(account_index: int) -> str:
    """Hash: connection state of one account's broker session."""
    return f"{PREFIX}:conn:{account_index}"


def replay_guard(signature: str) -> str:
    """String set NX when a state-changing request's signature is first accepted."""
    return f"{PREFIX}:sig:{signature}"


def login_failures(username: str, remote_addr: str) -> str:
    """Counter of failed logins of one user from one address, expiring with the lockout window."""
    return f"{PREFIX}:login:{username}:{remote_addr}"


def session_epoch(username: str) -> str:
    """Counter a user's logout bumps; a login session cookie holding an older value no longer authenticates."""
    return f"{PREFIX}:session:{username}"


RISK_LIMITS = f"{PREFIX}:risk:limits"  # JSON of common.risk.RiskLimits
AUDIT_STREAM = f"{PREFIX}:audit"  # append-only: every order, cancel and config change, accepted or rejected


def risk_second(account_index: int, epoch_second: int) -> str:
    """Counter of orders and cancels on an account in one second (expires in seconds)."""
    return f"{PREFIX}:risk:s:{account_index}:{epoch_second}"


def risk_day(account_index: int, day: str) -> str:
    """Counter of orders and cancels on an account on one trading day (ISO date, Shanghai)."""
    return f"{PREFIX}:risk:d:{account_index}:{day}"


# -- calendar and routines (common.calendar, common.routines) --------------------------------------
CALENDAR_QMT = f"{PREFIX}:calendar:qmt"  # JSON: QMT's trading days, published by the real worker
CALENDAR_STATUS = f"{PREFIX}:calendar:status"  # JSON: the scheduler's last verdict on today and the data's end
ROUTINES = f"{PREFIX}:routines"  # JSON list of common.routines models, as admins edited them
SCHEDULER_LEADER = f"{PREFIX}:scheduler:leader"  # the scheduler process that fires routines (a lease)


def routine_run(name: str, day: str) -> str:
    """JSON: what routine `name` did on trading day `day` (ISO); its existence is the once-a-day marker."""
    return f"{PREFIX}:routine:{name}:{day}"


def calendar_warned(day: str) -> str:
    """Set when the calendar's data-end warning went out on `day` (ISO): once a day."""
    return f"{PREFIX}:calendar:warned:{day}"
