"""python -m worker [--burst]: the worker role against REDIS_URL."""

from __future__ import annotations

import sys

from common.exceptions import ConfigError
from common.roles import refuse_start, role_redis, role_settings
from common.store import dequeue_connection
from worker.runner import serve


def main() -> int:
    settings = role_settings("worker")
    try:
        serve(settings, role_redis("worker", settings), burst="--burst" in sys.argv, dequeue=dequeue_connection(settings))
    except ConfigError as error:
        refuse_start("worker", error.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
