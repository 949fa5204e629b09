"""python -m api: the web role on waitress (Windows and Linux) at FLASK_HOST:FLASK_PORT."""

from __future__ import annotations

import logging
import sys

from common.roles import address_in_use, role_redis, role_settings

THREADS = 32  # ?wait=N and query requests each hold a thread while they wait


def main() -> int:
    settings = role_settings("web")
    from waitress import create_server

    from api import create_app

    app = create_app(settings, role_redis("web", settings))
    try:
        server = create_server(
            app,
            host=settings.FLASK_HOST,
            port=settings.FLASK_PORT,
            threads=THREADS,
            ident="qmt-router",
            clear_untrusted_proxy_headers=not settings.TRUSTED_PROXIES,  # else waitress drops X-Forwarded-For before ProxyFix reads it
        )
    except OSError as error:
        address_in_use("web", settings, error)
    logging.getLogger("web").info("web listening on http://%s:%s", settings.FLASK_HOST, settings.FLASK_PORT)
    server.run()  # returns on Ctrl-C; SIGTERM ends the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
