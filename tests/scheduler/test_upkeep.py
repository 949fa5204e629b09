"""The leader's upkeep: one "worker down" when the heartbeat goes stale, "up" when it beats again; trimming by age."""

from __future__ import annotations

import time

import pytest

from common.store import events, keys
from scheduler import upkeep as upkeep_module
from scheduler.upkeep import Upkeep
from tests.support import wait_until


@pytest.fixture(autouse=True)
def quick_silence(monkeypatch):
    monkeypatch.setattr(upkeep_module, "SILENT_SECONDS", 0.3)


def beat(connection, started: float = 100.0, **extra) -> None:
    connection.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time(), "started": started, "pid": 42, "host": "win", **extra})


def worker_events(connection) -> list[events.WorkerEvent]:
    return [event for _, event in events.read(connection, count=1000) if isinstance(event, events.WorkerEvent)]


def silent_long_enough(upkeep: Upkeep, connection) -> bool:
    upkeep.tick()
    return bool(worker_events(connection))


def test_a_stale_heartbeat_is_one_worker_down_and_a_fresh_one_worker_up(fake_redis):
    upkeep = Upkeep(fake_redis, leading=lambda: True)
    beat(fake_redis)
    upkeep.tick()
    assert wait_until(lambda: silent_long_enough(upkeep, fake_redis), 3)
    for _ in range(3):
        upkeep.tick()
    [down] = worker_events(fake_redis)
    assert down.state == "down" and down.host == "win" and "no heartbeat" in down.reason
    another_leader = Upkeep(fake_redis, leading=lambda: True)  # a new leader does not say it again
    another_leader.tick()
    assert wait_until(lambda: [another_leader.tick()] and time.monotonic() - another_leader._workers[0]._beat_changed_at > 0.4, 3)  # noqa: SLF001 - waits out its silence
    assert len(worker_events(fake_redis)) == 1
    beat(fake_redis)  # the same worker beats again
    upkeep.tick()
    assert [e.state for e in worker_events(fake_redis)] == ["down", "up"]


def test_a_clean_stop_or_a_follower_says_nothing(fake_redis):
    beat(fake_redis, started=100.0, stopped=200.0)  # the worker announced its own stop
    follower, leader = Upkeep(fake_redis, leading=lambda: False), Upkeep(fake_redis, leading=lambda: True)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        follower.tick()
        leader.tick()
        time.sleep(0.05)
    assert worker_events(fake_redis) == []


def test_a_restarted_worker_announces_itself(fake_redis):
    upkeep = Upkeep(fake_redis, leading=lambda: True)
    beat(fake_redis, started=100.0)
    upkeep.tick()
    assert wait_until(lambda: silent_long_enough(upkeep, fake_redis), 3)
    beat(fake_redis, started=300.0)  # a new worker process: it appended its own "up"
    upkeep.tick()
    assert [e.state for e in worker_events(fake_redis)] == ["down"] and fake_redis.get(keys.WORKER_SILENT) is None


def test_events_older_than_max_age_are_trimmed(fake_redis):
    old_ms = int((time.time() - (events.MAX_AGE_DAYS + 1) * 86_400) * 1000)
    for index in range(3):
        fake_redis.xadd(keys.EVENTS_STREAM, {"kind": "connected", "ts": old_ms / 1000, "body": "{}"}, id=f"{old_ms}-{index}")
    kept = events.append(fake_redis, events.ConnectionEvent(kind="connected"))
    Upkeep(fake_redis, leading=lambda: True).tick()
    assert events.oldest(fake_redis) == kept and fake_redis.xlen(keys.EVENTS_STREAM) == 1
