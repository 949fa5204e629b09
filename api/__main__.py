"""python -m api: the web role on waitress (Windows and Linux) at FLASK_HOST:FLASK_PORT."""

from __future__ import annotations

import logging
import sys
from typing import Any

from common import metrics
from common.continuity import Continuity
from common.roles import address_in_use, role_redis, role_settings
from common.settings import Settings

THREADS = 32  # requests served at once; answers that wait (?wait=, Prefer: wait) take at most WAIT_SLOTS of them
CONNECTION_LIMIT = 500  # open sockets (waitress: 100): 120 slow senders must not lock clients out; under Windows' 512 for select()
CHANNEL_TIMEOUT = 30  # seconds a socket may stay silent mid-request or idle between requests (waitress: 120); a wait is not silence
MAX_HEADER_BYTES = 64 * 1024  # request line and headers (waitress: 256 KB); signed requests need about 1 KB


def server_options(settings: Settings) -> dict[str, Any]:
    """Waitress's limits, for `python -m api` and the embedded run alike: what keeps slow and hostile clients from taking it down."""
    return {
        "threads": THREADS,
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": CHANNEL_TIMEOUT,
        "max_request_header_size": MAX_HEADER_BYTES,
        # waitress refuses a body of this size or more with 413 before reading it (chunked bodies too): the limit is inclusive in Flask
        "max_request_body_size": settings.MAX_BODY_BYTES + 1,
        "ident": "qmt-router",
        # with TRUSTED_PROXIES, waitress must pass X-Forwarded-For on for ProxyFix to read it (it drops it by default)
        "clear_untrusted_proxy_headers": not settings.TRUSTED_PROXIES,
    }


def main() -> int:
    settings = role_settings("web")
    from waitress import create_server

    from api import create_app

    connection = role_redis("web", settings)
    Continuity(connection, settings.VAR_DIR, "web").start()  # a Redis that lost its data since this machine last saw it fails closed
    app = create_app(settings, connection)
    metrics.Flusher(connection).start()  # this process's request counts into Redis every second (common.metrics)
    try:
        server = create_server(app, host=settings.FLASK_HOST, port=settings.FLASK_PORT, **server_options(settings))
    except OSError as error:
        address_in_use("web", settings, error)
    logging.getLogger("web").info("web listening on http://%s:%s", settings.FLASK_HOST, settings.FLASK_PORT)
    server.run()  # returns on Ctrl-C; SIGTERM ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
