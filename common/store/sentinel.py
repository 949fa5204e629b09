"""Redis behind Sentinel: a client that asks the sentinels for the master (REDIS_SENTINELS, REDIS_MASTER_NAME) and,
after a failover, finds the new one on its next connection, without a restart; and which server answers now.

redis-py's own `redis.sentinel.Sentinel(...).master_for(...)` does the work: each new connection asks the sentinels for
the master's address, and a connection to a master that became a replica (READONLY) is dropped. REDIS_URL gives the
password, user and database number; its host and port are not used.
"""

from __future__ import annotations

from typing import cast

import redis
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from common.config.settings import Settings
from common.rules.loose_types import RedisReply

SENTINEL_TIMEOUT = 0.5  # seconds a sentinel may take to say where the master is, before the next sentinel is asked


def master_client(settings: Settings, socket_timeout: float, connect_timeout: float, retry: Retry) -> redis.Redis:
    """A client for the master the sentinels name, with the same timeouts and retries as a plain REDIS_URL client."""
    url = parse_url(settings.REDIS_URL)
    sentinel_auth = {"password": settings.REDIS_SENTINEL_PASSWORD} if settings.REDIS_SENTINEL_PASSWORD else {}
    sentinels = Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT, **sentinel_auth},
    )
    client: redis.Redis = sentinels.master_for(
        settings.REDIS_MASTER_NAME,
        db=url.get("db", 0),
        username=url.get("username"),
        password=url.get("password"),
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        retry_on_timeout=False,
        retry=retry,
    )
    return client


def master_in_use(settings: Settings, connection: redis.Redis) -> str:
    """host:port of the Redis the client writes to: the master the sentinels last named, or REDIS_URL's; "embedded" for
    the in-process stand-in. Asks the sentinels only when the client has not connected yet."""
    if not settings.REDIS_URL:
        return "embedded"
    pool = connection.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        address = pool.master_address or pool.get_master_address()
        return f"{address[0]}:{address[1]}"
    kwargs = pool.connection_kwargs
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def server_id(connection: redis.Redis) -> str:
    """The run id of the Redis process that answers (INFO server): another one after a failover or a restart."""
    info = cast("dict[str, RedisReply]", connection.info("server"))  # a sync client's answer
    return str(info.get("run_id", ""))
