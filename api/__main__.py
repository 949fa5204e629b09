"""python -m api: the web role on waitress (Windows and Linux) at FLASK_HOST:FLASK_PORT."""

from __future__ import annotations

import logging
import sys

from common.roles import address_in_use, role_redis, role_settings
from common.store import durability, metrics
from common.store.continuity import Continuity


def main() -> int:
    settings = role_settings("web")
    from api import create_app, server

    connection = role_redis("web", settings, warn=False)  # warned below, once listening: a refusal to start stays one line
    Continuity(connection, settings.VAR_DIR, "web").start()  # a Redis that lost its data since this machine last saw it fails closed
    app = create_app(settings, connection)
    metrics.Flusher(connection).start()  # this process's request counts into Redis every second (common.store.metrics)
    try:
        listening = server.create(app, settings)
    except OSError as error:
        address_in_use("web", settings, error)
    logging.getLogger("web").info("web listening on %s", " and ".join(server.browser_urls(settings.FLASK_HOST, settings.FLASK_PORT)))
    durability.warn_at_start(connection, "web")
    listening.run()  # returns on Ctrl-C; SIGTERM ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
