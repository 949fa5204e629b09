"""Start-up shared by `python -m api|worker|scheduler` and the embedded run: settings, logging, Redis.

Every configuration or start-up problem ends the process with one line naming the key or the
resource and what to do, and exit status 2 — never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import redis

from common.config import clock
from common.config.config_mistakes import is_placeholder
from common.config.logs import configure
from common.config.settings import Settings, get_settings
from common.rules.exceptions import ConfigError
from common.store import durability
from common.store.connections import connect

log = logging.getLogger("router.start")

STARTUP_PROBLEM = 2  # exit status


def refuse_start(role: str, problem: str) -> NoReturn:
    """End the process at start-up with one line on stderr and exit status 2."""
    print(f"{role}: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(STARTUP_PROBLEM)


def role_settings(role: str) -> Settings:
    """The settings for a separately run role; exits with status 2 and the reason when they will not do."""
    try:
        settings = get_settings()
    except ConfigError as error:
        refuse_start(role, error.message)
    if not settings.REDIS_URL:
        refuse_start(role, "REDIS_URL is not set; run `python run.py` for the embedded single-process mode")
    try:
        check_var_dir(settings)
        check_secrets(settings)
    except ConfigError as error:
        refuse_start(role, error.message)
    configure(settings, role)
    clock.set_offset(settings.CLOCK_OFFSET_SECONDS)
    return settings


def check_var_dir(settings: Settings) -> None:
    """ConfigError naming VAR_DIR when the role cannot keep its run-time files there (missing and not creatable, read-only)."""
    folder = Path(settings.VAR_DIR)
    probe = folder / f".writable-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"VAR_DIR={settings.VAR_DIR} cannot hold the router's run-time files ({error.strerror or error}): make it writable "
            "for this user, or set VAR_DIR to a folder it may write"
        ) from None


SECRETS = ("FLASK_SECRET_KEY", "ADMIN_PASSWORD", "TRADER_PASSWORD", "QMT_CLIENT_SECRET", "OUTER_CLIENT_SECRET")


def check_secrets(settings: Settings) -> None:
    """ConfigError naming the first secret that is a placeholder copied from an example (`your_secret_key`,
    `change-me`, ...): a real deployment never starts with one. The embedded run generates its own instead."""
    found = [(key, str(getattr(settings, key))) for key in SECRETS]
    found += [(f"API_CLIENTS {client.client_id} secret", client.secret) for client in settings.API_CLIENTS]
    for key, value in found:
        if is_placeholder(value):
            raise ConfigError(
                f'{key} is a placeholder ({value[:24]!r}), not a secret: set a value of your own (e.g. python -c "import secrets; print(secrets.token_hex(24))")'
            )


def role_redis(role: str, settings: Settings, warn: bool = True) -> redis.Redis:
    """A Redis client for the role, once the server answers; exits with one line when it does not."""
    connection = connect(settings)
    try:
        connection.ping()
    except redis.RedisError as error:
        if settings.REDIS_SENTINELS:
            refuse_start(
                role,
                f"the Redis master {settings.REDIS_MASTER_NAME!r} of REDIS_SENTINELS={','.join(settings.REDIS_SENTINELS)} does not answer "
                f"({error.__class__.__name__}): start the sentinels and the master, or correct REDIS_SENTINELS and REDIS_MASTER_NAME",
            )
        refuse_start(
            role, f"Redis at REDIS_URL={_safe_url(settings.REDIS_URL)} does not answer ({error.__class__.__name__}): start it, or correct REDIS_URL"
        )
    if warn and settings.REDIS_URL:  # the embedded stand-in keeps its state in VAR_DIR (run.py)
        durability.warn_at_start(connection, role)
        for problem in open_to_the_network(settings):
            log.warning("%s: %s", role, problem)
    return connection


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def open_to_the_network(settings: Settings) -> list[str]:
    """What of the Redis set-up anyone on the network may command, one line each: a Redis or a sentinel off loopback
    without a password. Whoever can write to the router's Redis can queue orders the worker sends to QMT, and whoever can
    command a sentinel can name a Redis of theirs as the master. Warned at a role's start (not refused: the old server
    ran so, and a private network may be the choice)."""
    found: list[str] = []
    url = urlsplit(settings.REDIS_URL)
    if settings.REDIS_SENTINELS:
        away = [host for host, _ in settings.sentinel_addresses if host not in LOOPBACK]
        if away and not settings.REDIS_SENTINEL_PASSWORD:
            found.append(
                f"REDIS_SENTINEL_PASSWORD is empty while REDIS_SENTINELS reaches the network ({away[0]}): anyone who reaches a sentinel can name "
                "a Redis of theirs as the master; set requirepass in every sentinel.conf and that password as REDIS_SENTINEL_PASSWORD"
            )
        if away and url.scheme in ("redis", "rediss") and not url.password:
            found.append(
                "REDIS_URL has no password while the Redis servers are on the network: anyone who reaches them can queue orders the "
                "worker sends; set requirepass and masterauth on every server and REDIS_URL=redis://:password@<master name>/0"
            )
    elif url.scheme in ("redis", "rediss") and url.hostname not in (None, *LOOPBACK) and not url.password:
        found.append(
            f"REDIS_URL has no password while Redis is on the network ({url.hostname}): anyone who reaches it can queue orders the worker "
            "sends; set requirepass on Redis and REDIS_URL=redis://:password@host:port/0"
        )
    return found


def address_in_use(role: str, settings: Settings, error: OSError) -> NoReturn:
    refuse_start(
        role,
        f"cannot listen on FLASK_HOST:FLASK_PORT = {settings.FLASK_HOST}:{settings.FLASK_PORT} ({error.strerror or error}): "
        "stop what holds the port, or set FLASK_PORT to a free one",
    )


def _safe_url(url: str) -> str:
    """REDIS_URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
