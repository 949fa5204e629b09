"""The scheduler's process: APScheduler in Asia/Shanghai running its heartbeat, the routine loop's tick and the
leader's upkeep of the event stream; and the DingTalk notifier, a reader of that stream, in a thread of its own.

Routines fire from the tick (scheduler.routine_loop), which reads the router's clock, so a restart,
a late start or two scheduler processes are all judged against the per-day run records in Redis
rather than against APScheduler's own memory of what it fired.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from common.config.settings import Settings
from common.store import keys, metrics
from scheduler.dingtalk import POST_TIMEOUT
from scheduler.notifier import Notifier
from scheduler.routine_loop import RoutineLoop
from scheduler.upkeep import Upkeep

log = logging.getLogger("scheduler")
TIMEZONE = "Asia/Shanghai"
HEARTBEAT_SECONDS = 5
TICK_SECONDS = 1


def _beat(connection: redis.Redis) -> None:
    try:
        connection.hset(keys.SCHEDULER_HEARTBEAT, mapping={"ts": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
        connection.expire(keys.SCHEDULER_HEARTBEAT, HEARTBEAT_SECONDS * 6)
    except redis.RedisError as error:
        log.warning("scheduler heartbeat not written: %s", error.__class__.__name__)


def build(settings: Settings, connection: redis.Redis, loop: RoutineLoop) -> BackgroundScheduler:
    """A scheduler with its heartbeat, the routine loop's tick and the stream's upkeep; not started."""
    scheduler = BackgroundScheduler(timezone=TIMEZONE, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    scheduler.add_job(_beat, "interval", seconds=HEARTBEAT_SECONDS, args=(connection,), id="heartbeat")
    scheduler.add_job(loop.tick, "interval", seconds=TICK_SECONDS, id="routines")
    scheduler.add_job(Upkeep(connection, loop.leading, settings).tick, "interval", seconds=TICK_SECONDS, id="upkeep")
    return scheduler


def run(settings: Settings, connection: redis.Redis, stop: threading.Event) -> None:
    """Run until `stop` is set, then shut down cleanly."""
    loop = RoutineLoop(settings, connection)
    scheduler = build(settings, connection, loop)
    figures = metrics.Flusher(connection).start()  # the events it appends, counted for /metrics
    scheduler.start()
    notifier = Notifier(settings, connection)
    notifying = threading.Thread(target=notifier.run, args=(stop,), name="dingtalk", daemon=True)
    notifying.start()
    _beat(connection)
    log.info("scheduler running in %s with %d job(s)", TIMEZONE, len(scheduler.get_jobs()))
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        loop.resign()
        notifying.join(2 * POST_TIMEOUT + 1)  # a post under way ends within its timeouts
        figures.stop()
        log.info("scheduler stopped")
