"""Every queue name and Redis key the router uses, in one place (RQ's own keys stay RQ's)."""

from __future__ import annotations

PREFIX = "qmt"

# Queues in the worker's priority order: a cancel is never stuck behind an order backlog.
CANCEL_QUEUE = "cancel"
ORDER_QUEUE = "order"
QUERY_QUEUE = "query"
QUEUES_BY_PRIORITY = (CANCEL_QUEUE, ORDER_QUEUE, QUERY_QUEUE)

WORKER_HEARTBEAT = f"{PREFIX}:worker:heartbeat"  # hash: ts, pid, broker, host, started; stopped after a clean stop
SCHEDULER_HEARTBEAT = f"{PREFIX}:scheduler:heartbeat"
EVENTS_STREAM = f"{PREFIX}:events"  # everything that happens (common.store.events), capped by length and age
# sorted set: ids of jobs queued and not yet seen started (score: when queued): what the orphan scan looks at
PENDING_JOBS = f"{PREFIX}:jobs:pending"
PENDING_INDEXED = f"{PREFIX}:jobs:pending:indexed"  # + ":<first queue>": a terminal's worker swept the jobs queued before the index


def shared_query(question: str) -> str:
    """`<job id> <unix time queued>` of the latest query job for `question` (a digest), for callers who accept a recent answer."""
    return f"{PREFIX}:query:shared:{question}"


def job_end_told(job_id: str) -> str:
    """The closing stage last told of an order job that did not end at the broker (unknown, not_submitted, ...), so a
    job settled twice (its own end, then recovery's) tells the same end once."""
    return f"{PREFIX}:told:{job_id}"


def order_state(job_id: str) -> str:
    """JSON: the latest broker view of the order a job placed (status, filled volume, avg price)."""
    return f"{PREFIX}:order:{job_id}"


def worker_heartbeat(terminal: str) -> str:
    """Hash: the heartbeat of the worker serving `terminal` (the default terminal keeps WORKER_HEARTBEAT)."""
    return f"{PREFIX}:worker:heartbeat:{terminal}"


def worker_lease(terminal: str) -> str:
    """String: the token of the one worker allowed to send to `terminal`'s QMT; it lapses unless renewed."""
    return f"{PREFIX}:worker:lease:{terminal}"


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


RISK_LIMITS = f"{PREFIX}:risk:limits"  # JSON of common.rules.risk.RiskLimits
STORE_ID = f"{PREFIX}:store:id"  # a random id put in at first start: gone or changed means Redis lost its data (common.store.continuity)
REPLICATION_MARK = f"{PREFIX}:store:replicated"  # written just before a WAIT, so the wait covers every earlier write (common.store.replication)
AUDIT_STREAM = f"{PREFIX}:audit"  # append-only: every order, cancel and config change, accepted or rejected


def risk_second(account_index: int, epoch_second: int) -> str:
    """Counter of orders and cancels on an account in one second (expires in seconds)."""
    return f"{PREFIX}:risk:s:{account_index}:{epoch_second}"


def risk_day(account_index: int, day: str) -> str:
    """Counter of orders and cancels on an account on one trading day (ISO date, Shanghai)."""
    return f"{PREFIX}:risk:d:{account_index}:{day}"


# -- calendar and routines (common.rules.calendar, common.rules.routines) --------------------------------------
CALENDAR_QMT = f"{PREFIX}:calendar:qmt"  # JSON: QMT's trading days, published by the real worker
CALENDAR_STATUS = f"{PREFIX}:calendar:status"  # JSON: the scheduler's last verdict on today and the data's end
ROUTINES = f"{PREFIX}:routines"  # JSON list of common.rules.routines models, as admins edited them
SCHEDULER_LEADER = f"{PREFIX}:scheduler:leader"  # the scheduler process that fires routines (a lease)


def routine_run(name: str, day: str) -> str:
    """JSON: what routine `name` did on trading day `day` (ISO); its existence is the once-a-day marker."""
    return f"{PREFIX}:routine:{name}:{day}"


def routines_watched(day: str) -> str:
    """Unix seconds: the last moment of day `day` (ISO) at which a scheduler considered every routine (common.store.routine_store.watch)."""
    return f"{PREFIX}:routines:watched:{day}"


def calendar_warned(day: str) -> str:
    """Set when the calendar's data-end warning went out on `day` (ISO): once a day."""
    return f"{PREFIX}:calendar:warned:{day}"


# -- metrics (common.store.metrics, common.store.exposition) -----------------------------------------------------
def metric(family: str) -> str:
    """Hash: the sums of one metric family over every process (field: JSON label values, `|b<i>` / `|sum` for histograms)."""
    return f"{PREFIX}:metrics:{family}"


# DingTalk's figures, kept by whatever sends the messages (the event-stream consumer): INCR the counters once per message
# it posted (`sent`) or gave up on (`failed`), and SET the gauge to the messages waiting to be posted after every change.
# /metrics exposes them as qmt_dingtalk_messages_total{outcome="sent"|"failed"} and qmt_dingtalk_queued.
DINGTALK_SENT = f"{PREFIX}:metrics:dingtalk:sent"  # counter (INCR)
DINGTALK_FAILED = f"{PREFIX}:metrics:dingtalk:failed"  # counter (INCR)
DINGTALK_QUEUED = f"{PREFIX}:metrics:dingtalk:queued"  # gauge (SET): messages waiting to be posted now


# -- notifications and the event stream's upkeep (scheduler.notifier, scheduler.upkeep) -----------
NOTIFY_GROUP = "dingtalk"  # the consumer group on the event stream that DingTalk reads through
NOTIFY_SENT = f"{PREFIX}:notify:sent"  # sorted set: DingTalk posts of the last minute, by Redis time (ms), every process's
WORKER_SILENT = f"{PREFIX}:worker:silent"  # set while the worker's heartbeat is stale: its `started`, announced once


def notify_consumer(name: str) -> str:
    """Set (with a short expiry) while the notifier consumer `name` is alive; when it lapses, its events are rescued."""
    return f"{PREFIX}:notify:consumer:{name}"


def quote(code: str) -> str:
    """JSON: the latest quote the worker read for `code` (common.store.quotes), with the day's price limits; kept a day."""
    return f"{PREFIX}:quote:{code}"


def notify_told(what: str, job_id: str) -> str:
    """Set once DingTalk took a message telling `what` (a state, "rejected", a fill's trade id) of job `job_id`: told once."""
    return f"{PREFIX}:notify:told:{job_id}:{what}"


def query_rate(client: str, epoch_second: int) -> str:
    """Counter of new query jobs one client (or every logged-in page together) queued in one second (expires in seconds)."""
    return f"{PREFIX}:qrate:{client}:{epoch_second}"


def worker_starting(terminal: str) -> str:
    """Unix time a worker of `terminal` began starting (its sessions opening), until its first heartbeat; expires."""
    return f"{PREFIX}:worker:starting:{terminal}"
