"""The scheduler's process: an APScheduler in Asia/Shanghai with its heartbeat; routines join it later."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from common import keys
from common.settings import Settings

log = logging.getLogger("scheduler")
TIMEZONE = "Asia/Shanghai"
HEARTBEAT_SECONDS = 5


def _beat(connection: redis.Redis) -> None:
    try:
        connection.hset(keys.SCHEDULER_HEARTBEAT, mapping={"ts": time.time(), "pid": os.getpid(), "host": socket.gethostname()})
        connection.expire(keys.SCHEDULER_HEARTBEAT, HEARTBEAT_SECONDS * 6)
    except redis.RedisError as error:
        log.warning("scheduler heartbeat not written: %s", error.__class__.__name__)


def build(settings: Settings, connection: redis.Redis) -> BackgroundScheduler:
    """A scheduler with its heartbeat job; not started."""
    scheduler = BackgroundScheduler(timezone=TIMEZONE, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
    scheduler.add_job(_beat, "interval", seconds=HEARTBEAT_SECONDS, args=(connection,), id="heartbeat")
    return scheduler


def run(settings: Settings, connection: redis.Redis, stop: threading.Event) -> None:
    """Run until `stop` is set, then shut down cleanly."""
    scheduler = build(settings, connection)
    scheduler.start()
    _beat(connection)
    log.info("scheduler running in %s with %d job(s)", TIMEZONE, len(scheduler.get_jobs()))
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        log.info("scheduler stopped")
