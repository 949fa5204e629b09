"""DingTalk as one reader of the event stream: a consumer group, every chosen event at least once, 20 messages a minute.

Each scheduler process runs one consumer of the group keys.NOTIFY_GROUP, in a thread of its own: the
worker never posts, so a slow or hanging robot holds up nothing but this thread. The consumer:

- reads new events (XREADGROUP, in blocks shorter than the Redis socket timeout), acknowledges at once
  those NOTIFY_EVENTS does not choose, and holds the chosen ones;
- waits LINGER_SECONDS after the first held one, so a burst goes out as one markdown message (up to
  MAX_LINES lines);
- takes a slot of the 20-a-minute budget, counted in Redis (keys.NOTIFY_SENT, by Redis's clock) so every
  scheduler process together stays within it; with none free, it waits, and what arrives meanwhile
  joins the message;
- posts, and acknowledges the message's events (XACK) only once DingTalk accepted it. A failure (HTTP
  error, errcode != 0, timeout) is tried again with backoff, for as long as it takes;
- keeps a liveness key while it runs. Events held by a consumer whose key lapsed (a killed process) or
  that stopped cleanly are claimed (XPENDING + XCLAIM) by another, or by the process started next,
  and sent: a restart loses none. A message accepted just before a kill may come twice.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import cast

import redis

from common.config.settings import Settings
from common.rules.exceptions import NotificationFailed
from common.store import events, keys, metrics
from common.store.scripts import rate_window
from scheduler import notices
from scheduler.dingtalk import Robot

log = logging.getLogger("scheduler.notifier")
PER_MINUTE = 20  # DingTalk's limit per robot
WINDOW_MS = 61_000  # a second more than its minute: DingTalk's clock and Redis's need not agree
LINGER_SECONDS = 1.0  # after the first event of a burst, how long the rest may take to join its message
MAX_LINES = 30  # events in one message
MAX_TEXT_BYTES = 15_000  # DingTalk takes up to 20,000 bytes of markdown
READ_COUNT = 200  # events read at once (most are acknowledged unread: not chosen)
ALIVE_SECONDS = 15  # a consumer's liveness key; longer than one post can take (dingtalk.POST_TIMEOUT for connect, then read)
RESCUE_EVERY = 5.0  # seconds between looks for events a stopped consumer left
RESCUE_IDLE_MS = 1_000  # an entry claimed this recently is another rescuer's
BACKOFF_SECONDS = (1, 2, 4, 8, 15, 30, 60)  # after the 1st, 2nd, ... failure in a row; then 60 s
TOLD_SECONDS = 3 * 86_400  # how long a job's state is remembered as told (keys.notify_told)


@dataclass
class Notice:
    """A chosen event, held until DingTalk accepted the message carrying it."""

    entry_id: str
    line: str
    topic: tuple[str, str] | None


class Notifier:
    """One consumer of the DingTalk group; `run` until stopped (does nothing without DINGTALK_ACCESS_TOKEN)."""

    def __init__(self, settings: Settings, connection: redis.Redis, robot: Robot | None = None):
        self.redis = connection
        self.robot = robot or Robot(settings)
        self.chosen = notices.Selection(settings.NOTIFY_EVENTS)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.held: list[Notice] = []
        self._held_since = 0.0  # monotonic time the oldest held notice arrived
        self._next_attempt = 0.0  # monotonic: not before (backoff, or no slot free)
        self._failures = 0
        self._unacknowledged: list[str] = []  # sent, XACK not yet written (Redis refused it)
        self._next_rescue = 0.0
        self._slots = 0
        self._joined = False

    @property
    def enabled(self) -> bool:
        return self.robot.enabled

    def run(self, stop: threading.Event) -> None:
        if not self.enabled:
            return
        log.info("DingTalk notifier %s reading the event stream", self.name)
        while not stop.is_set():
            try:
                self.step(stop)
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._joined = False  # the stream or its group went away (Redis restarted empty): join again
            except redis.RedisError as error:
                log.warning("notifier: Redis %s; trying again", error.__class__.__name__)
                stop.wait(1)
            except Exception:  # the notifier must outlive any one bad event or answer
                log.exception("notifier step failed")
                stop.wait(1)
        self.retire()

    def step(self, stop: threading.Event) -> None:
        """Keep alive, rescue, read, and send when a message is due."""
        if not self._joined:
            events.join_group(self.redis, keys.NOTIFY_GROUP)
            self._joined = True
        self.redis.set(keys.notify_consumer(self.name), "1", px=ALIVE_SECONDS * 1000)
        self._acknowledge([])
        now = time.monotonic()
        if now >= self._next_rescue:
            self._next_rescue = now + RESCUE_EVERY
            self.rescue()
        due = self.due_at()
        if len(self.held) < MAX_LINES:
            left_ms = events.BLOCK_SLICE_MS if due is None else int((due - now) * 1000)
            block = min(left_ms, events.BLOCK_SLICE_MS)
            self.take(events.read_group(self.redis, keys.NOTIFY_GROUP, self.name, READ_COUNT, block if block > 0 else None))
        elif due is not None and due > now:
            stop.wait(min(due - now, events.BLOCK_SLICE_MS / 1000))
        due = self.due_at()
        if due is not None and time.monotonic() >= due and not stop.is_set():
            self.attempt()

    def due_at(self) -> float | None:
        """When the held notices should go out (monotonic), or None when none are held."""
        if not self.held:
            return None
        lingering = self._held_since + LINGER_SECONDS if len(self.held) < MAX_LINES else 0.0
        return max(self._next_attempt, lingering)

    def take(self, entries: list[events.Entry], *, older: bool = False) -> None:
        """Hold the chosen events (`older`: before those held, e.g. rescued ones); acknowledge the rest now."""
        chosen: list[Notice] = []
        skipped: list[str] = []
        topics = {notice.topic for notice in self.held if notice.topic}
        candidates = [(entry_id, event) for entry_id, event in entries if event is not None and self.chosen(event)]
        told = self._told([notices.topic(event) for _, event in candidates])
        kept = {entry_id for entry_id, _ in candidates}
        skipped += [entry_id for entry_id, _ in entries if entry_id not in kept]
        for (entry_id, event), was_told in zip(candidates, told, strict=True):
            topic = notices.topic(event)
            if was_told or (topic is not None and topic in topics):
                skipped.append(entry_id)  # the same end, told once already (posted before, or by a held line)
                continue
            if topic is not None:
                topics.add(topic)
            chosen.append(Notice(entry_id, notices.line(event), topic))
        if chosen and not self.held:
            self._held_since = time.monotonic()
        self.held = [*chosen, *self.held] if older else [*self.held, *chosen]
        self._acknowledge(skipped)
        metrics.dingtalk_waiting(self.redis, len(self.held))

    def _told(self, topics: list[tuple[str, str] | None]) -> list[bool]:
        """Which of these were told in a message DingTalk took (keys.notify_told); False for an event of no topic."""
        wanted = [keys.notify_told(*topic) for topic in topics if topic is not None]
        found = iter(cast("list[bytes | None]", self.redis.mget(wanted)) if wanted else [])  # redis-py types a sync answer as maybe Awaitable
        return [topic is not None and next(found) is not None for topic in topics]

    def attempt(self) -> None:
        """Post one message of the oldest held notices if a slot is free; acknowledge them once DingTalk took it."""
        self._slots += 1
        wait_ms = rate_window.reserve(self.redis, keys.NOTIFY_SENT, PER_MINUTE, WINDOW_MS, f"{self.name}:{self._slots}")
        if wait_ms > 0:
            self._next_attempt = time.monotonic() + wait_ms / 1000
            return
        batch = self._next_message()
        title, text = notices.message([notice.line for notice in batch])
        try:
            self.robot.post(title, text)
        except NotificationFailed as failure:
            delay = BACKOFF_SECONDS[min(self._failures, len(BACKOFF_SECONDS) - 1)]
            self._failures += 1
            self._next_attempt = time.monotonic() + delay
            log.warning("DingTalk did not take a message of %d event(s) (%s); trying again in %d s", len(batch), failure.message, delay)
            return
        if self._failures:
            log.info("DingTalk took the message after %d failure(s)", self._failures)
        self._failures = 0
        self._next_attempt = 0.0
        del self.held[: len(batch)]
        self._held_since = 0.0  # what is left has waited long enough
        log.info("DingTalk: sent %d event(s) in one message", len(batch))
        metrics.dingtalk_posted(self.redis, delivered=True)
        metrics.dingtalk_waiting(self.redis, len(self.held))
        with self.redis.pipeline(transaction=False) as pipe:  # told: the same end arriving again later is not told twice
            for notice in batch:
                if notice.topic is not None:
                    pipe.set(keys.notify_told(*notice.topic), "1", ex=TOLD_SECONDS)
            pipe.execute()
        self._acknowledge([notice.entry_id for notice in batch])

    def _next_message(self) -> list[Notice]:
        batch: list[Notice] = []
        size = 0
        for notice in self.held[:MAX_LINES]:
            size += len(notice.line.encode()) + 3
            if batch and size > MAX_TEXT_BYTES:
                break
            batch.append(notice)
        return batch

    def _acknowledge(self, entry_ids: list[str]) -> None:
        """XACK these (and any whose XACK Redis refused before); kept to try again when Redis refuses."""
        waiting = [*self._unacknowledged, *entry_ids]
        self._unacknowledged = []
        try:
            events.acknowledge(self.redis, keys.NOTIFY_GROUP, waiting)
        except redis.RedisError:
            self._unacknowledged = waiting
            raise

    def rescue(self) -> None:
        """Claim what stopped consumers left unsent; forget stopped consumers that left nothing."""
        for name, pending in events.consumers(self.redis, keys.NOTIFY_GROUP).items():
            if name == self.name or self.redis.exists(keys.notify_consumer(name)):
                continue
            if pending == 0:
                events.drop_consumer(self.redis, keys.NOTIFY_GROUP, name)
                continue
            claimed = events.claim(self.redis, keys.NOTIFY_GROUP, name, self.name, READ_COUNT, RESCUE_IDLE_MS)
            if claimed:
                log.warning("took over %d unsent event(s) from the stopped notifier %s", len(claimed), name)
                self.take(claimed, older=True)

    def retire(self) -> None:
        """A clean stop: drop the liveness key, so what this consumer still holds is rescued at once, not after ALIVE_SECONDS."""
        try:
            self.redis.delete(keys.notify_consumer(self.name))
        except redis.RedisError:
            pass  # it lapses by itself
        if self.held:
            log.info("notifier %s stopped holding %d unsent event(s); the next notifier sends them", self.name, len(self.held))
