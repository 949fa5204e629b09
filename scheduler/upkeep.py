"""The scheduler leader's upkeep of the event stream: "worker down" when its heartbeat goes stale, and trimming by age.

- Each terminal's worker writes its heartbeat (common.store.terminals: keys.WORKER_HEARTBEAT for the default) every 2 s. When its `ts` has not changed for
  SILENT_SECONDS of this process's own clock (so the machines' clocks need not agree), the leader appends
  one WorkerEvent(state="down") (marked in keys.WORKER_SILENT, so a new leader does not repeat it); when
  the same worker beats again, WorkerEvent(state="up"). A worker that stopped cleanly said so itself (and
  marked its heartbeat `stopped`); a restarted one announces itself "up".
- About once a minute, the leader trims the events older than events.MAX_AGE_DAYS (XTRIM MINID); the
  length cap (events.MAXLEN) is applied on every append.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import cast

import redis

from common.config.settings import Settings
from common.rules.loose_types import RedisReply
from common.store import events, keys, terminals

log = logging.getLogger("scheduler.upkeep")
SILENT_SECONDS = 10.0  # the worker beats every 2 s; this many seconds without a beat is a worker down
TRIM_EVERY_SECONDS = 60.0
SILENT_MARK_SECONDS = 7 * 86_400


class Upkeep:
    """Run `tick` every second in every scheduler process; only the leader (`leading()`) acts."""

    def __init__(self, connection: redis.Redis, leading: Callable[[], bool], settings: Settings | None = None):
        """`settings`: whose terminals' workers to watch (None: the one default terminal)."""
        self.redis = connection
        self.leading = leading
        found = terminals.terminals(settings) if settings is not None else [terminals.Terminal(terminals.DEFAULT, ())]
        self._workers = [WorkerWatch(connection, terminal) for terminal in found]
        self._next_trim = 0.0

    def tick(self) -> None:
        """Never raises: the next tick tries again."""
        try:
            beats = [watch.watch() for watch in self._workers]
            if not self.leading():
                return
            for watch, beat in zip(self._workers, beats, strict=True):
                watch.judge(beat)
            if time.monotonic() >= self._next_trim:
                self._next_trim = time.monotonic() + TRIM_EVERY_SECONDS
                trimmed = events.trim_older_than(self.redis, events.MAX_AGE_DAYS)
                if trimmed:
                    log.info("trimmed %d event(s) older than %d days", trimmed, events.MAX_AGE_DAYS)
        except redis.RedisError as error:
            log.warning("upkeep skipped: Redis %s", error.__class__.__name__)
        except Exception:
            log.exception("upkeep failed")


class WorkerWatch:
    """One terminal's worker, as the scheduler sees its heartbeat."""

    def __init__(self, connection: redis.Redis, terminal: terminals.Terminal):
        self.redis = connection
        self.heartbeat_key = terminal.heartbeat_key
        self.silent_key = keys.WORKER_SILENT if terminal.name == terminals.DEFAULT else f"{keys.WORKER_SILENT}:{terminal.name}"
        self._beat: bytes | None = None  # the heartbeat's ts as last read
        self._beat_changed_at = time.monotonic()  # when it last changed (or when watching began)
        self._beat_seen_moving = False  # it changed while this process watched

    def watch(self) -> dict[bytes, bytes]:
        """The worker's heartbeat, noting when its ts last changed (every process watches, so a new leader knows)."""
        beat = cast("dict[bytes, bytes]", self.redis.hgetall(self.heartbeat_key))  # redis-py types a sync answer as maybe Awaitable
        ts = beat.get(b"ts")
        if ts != self._beat:
            self._beat_seen_moving = self._beat is not None and ts is not None
            self._beat = ts
            self._beat_changed_at = time.monotonic()
        return beat

    def judge(self, beat: dict[bytes, bytes]) -> None:
        if not beat:
            return  # no worker beat (none started yet, or it stopped and its heartbeat expired): nothing to say
        started = beat.get(b"started", b"")
        silent_for = time.monotonic() - self._beat_changed_at
        if silent_for > SILENT_SECONDS:
            stopped = b"stopped" in beat and float(beat[b"stopped"]) >= float(started or 0)
            if not stopped and self.redis.set(self.silent_key, started, nx=True, ex=SILENT_MARK_SECONDS):
                reason = f"no heartbeat for {silent_for:.0f} s (pid {beat.get(b'pid', b'?').decode()})"
                log.warning("worker down: %s", reason)
                events.append(self.redis, events.WorkerEvent(state="down", host=beat.get(b"host", b"").decode(), reason=reason))
        elif self._beat_seen_moving:
            silent: RedisReply = self.redis.getdel(self.silent_key)
            if silent is not None and silent == started:  # the same worker beats again (a restarted one said "up" itself)
                log.info("worker up again: its heartbeat is fresh")
                events.append(self.redis, events.WorkerEvent(state="up", host=beat.get(b"host", b"").decode(), reason="heartbeat fresh again"))
