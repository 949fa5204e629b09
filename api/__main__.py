"""python -m api: the web role on waitress (Windows and Linux) at FLASK_HOST:FLASK_PORT."""
from __future__ import annotations

import logging
import sys

from common.roles import role_settings

THREADS = 32  # ?wait=N and query requests each hold a thread while they wait


def main() -> int:
    settings = role_settings("web")
    from waitress import serve

    from api import create_app

    logging.getLogger("web").info("web listening on http://%s:%s", settings.FLASK_HOST, settings.FLASK_PORT)
    serve(create_app(settings), host=settings.FLASK_HOST, port=settings.FLASK_PORT, threads=THREADS, ident="qmt-router")
    return 0


if __name__ == "__main__":
    sys.exit(main())
