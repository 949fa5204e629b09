"""The Redis connection every role uses: a real server at REDIS_URL (or the master REDIS_SENTINELS name), or the embedded in-process stand-in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError

from common.config.settings import Settings
from common.store import sentinel

if TYPE_CHECKING:  # imported where used: only the embedded default needs fakeredis
    import fakeredis

T = TypeVar("T")
_embedded_lock = threading.Lock()
_embedded_server: fakeredis.FakeServer | None = None


def embedded_server() -> fakeredis.FakeServer:
    """The one in-process fakeredis server shared by every role of an embedded run (python run.py)."""
    global _embedded_server
    with _embedded_lock:
        if _embedded_server is None:
            import fakeredis  # only the embedded default needs it

            _embedded_server = fakeredis.FakeServer(version=(7, 0))
        return _embedded_server


_attempts = threading.local()  # the errors this thread's command attempts met, while a caller notes them (attempts())


class NotingRetry(Retry):
    """redis-py's Retry, noting for the thread every error a command attempt met while a caller asks (attempts()): after
    two retries the error raised may be "cannot connect", although the first attempt reached Redis and ran."""

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kwargs: Any) -> T:
        def noted() -> T:
            try:
                return do()
            except Exception as error:
                met = getattr(_attempts, "errors", None)
                if met is not None:
                    met.append(error)
                raise

        return super().call_with_retry(noted, fail, *args, **kwargs)


@contextmanager
def attempts() -> Iterator[list[Exception]]:
    """Within the block, the errors this thread's command attempts meet, retried ones included (NotingRetry)."""
    _attempts.errors = []
    try:
        yield _attempts.errors
    finally:
        _attempts.errors = None


def may_have_run(error: BaseException) -> bool:
    """Could the command this error ended have reached Redis (and run)? Not when the connection could not be made at all
    (refused, a connect timeout, no master named by the sentinels); yes when it broke or timed out after the send."""
    if not isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return False
    text = str(error)
    return not (isinstance(error, MasterNotFoundError) or "connecting to" in text or text.startswith("Timeout connecting"))


_scripts: WeakKeyDictionary[redis.Redis, dict[str, Script]] = WeakKeyDictionary()
_scripts_lock = threading.Lock()


def script(connection: redis.Redis, source: str) -> Script:
    """`source` registered with `connection` (redis-py's Script: EVALSHA, loaded again after a Redis restart), made once
    per connection and script: the callers run theirs on every order."""
    with _scripts_lock:
        known = _scripts.setdefault(connection, {})
        if source not in known:
            known[source] = connection.register_script(source)
        return known[source]


def connect(settings: Settings, socket_timeout: float | None = None, connect_timeout: float = 2.0) -> redis.Redis:
    """A client for REDIS_URL, with short timeouts so an outage (stopped or frozen server) is a quick error, not a hang.

    `socket_timeout` (seconds) bounds every command; default REDIS_SOCKET_TIMEOUT. A command that
    times out is never resent: it may have reached Redis, and a resent enqueue or counter would double.
    With no REDIS_URL the client talks to the embedded server, which only this process shares.
    """
    if not settings.REDIS_URL:
        import fakeredis

        return fakeredis.FakeRedis(server=embedded_server())
    timeout = settings.REDIS_SOCKET_TIMEOUT if socket_timeout is None else socket_timeout
    # Two quick retries ride out a refused or dropped connection; redis-py's default (3 retries up to 10 s apart)
    # would hold a request ~9 s, and its default also retries timeouts, which resends commands Redis may have run.
    retry = NotingRetry(ExponentialBackoff(cap=0.25, base=0.05), 2, supported_errors=(redis.ConnectionError,))
    if settings.REDIS_SENTINELS:  # the master the sentinels name, found again after a failover (common.store.sentinel)
        return sentinel.master_client(settings, timeout, connect_timeout, retry)
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=connect_timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        retry_on_timeout=False,
        retry=retry,
    )


def dequeue_connection(settings: Settings) -> redis.Redis:
    """The worker's connection for RQ: its socket timeout lies above the blocking dequeue's WORKER_DEQUEUE_BLOCK.

    RQ blocks in BLPOP up to WORKER_DEQUEUE_BLOCK seconds; a shorter socket timeout would cut every idle wait,
    a much longer one would leave a frozen Redis unnoticed for minutes (RQ's own default is 415 s).
    """
    return connect(settings, socket_timeout=settings.WORKER_DEQUEUE_BLOCK + settings.REDIS_SOCKET_TIMEOUT)


PROBE_TIMEOUT = 0.5  # seconds: a readiness probe answers well within a load balancer's patience, even on a frozen Redis


def probe_connection(settings: Settings) -> redis.Redis:
    """A client for readiness probes (GET /readyz): connects and answers within PROBE_TIMEOUT or fails."""
    return connect(settings, socket_timeout=PROBE_TIMEOUT, connect_timeout=PROBE_TIMEOUT)
