"""The Redis connection every role uses: a real server at REDIS_URL, or the embedded in-process stand-in."""

from __future__ import annotations

import threading

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.settings import Settings

_embedded_lock = threading.Lock()
_embedded_server = None


def embedded_server():
    """The one in-process fakeredis server shared by every role of an embedded run (python run.py)."""
    global _embedded_server
    with _embedded_lock:
        if _embedded_server is None:
            import fakeredis  # only the embedded default needs it

            _embedded_server = fakeredis.FakeServer(version=(7, 0))
        return _embedded_server


def connect(settings: Settings) -> redis.Redis:
    """A client for REDIS_URL, with short timeouts so an outage is a quick error, not a hang.

    With no REDIS_URL the client talks to the embedded server, which only this process shares.
    """
    if not settings.REDIS_URL:
        import fakeredis

        return fakeredis.FakeRedis(server=embedded_server())
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=2,
        socket_timeout=None,  # RQ's blocking dequeue sets its own; a bounded default would cut it
        health_check_interval=30,
        retry_on_timeout=False,
        # Two quick retries ride out a blip; redis-py's default (3 retries up to 10 s apart) would hold a request ~9 s.
        retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2),
    )
