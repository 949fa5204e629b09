"""python -m worker [--terminal NAME] [--burst]: the worker role for one QMT terminal, against REDIS_URL.

A worker whose terminal another worker took over stands by until the lease is free again; with --burst it exits with
status 3 instead.
"""

from __future__ import annotations

import sys

from common.exceptions import ConfigError
from common.roles import refuse_start, role_redis, role_settings
from common.store import dequeue_connection
from worker.runner import serve

LEASE_LOST = 3  # exit status


def main() -> int:
    settings = role_settings("worker")
    terminal = sys.argv[sys.argv.index("--terminal") + 1] if "--terminal" in sys.argv[:-1] else None
    try:
        kept = serve(
            settings, role_redis("worker", settings), burst="--burst" in sys.argv, dequeue=dequeue_connection(settings), terminal_name=terminal
        )
    except ConfigError as error:
        refuse_start("worker", error.message)
    return 0 if kept else LEASE_LOST


if __name__ == "__main__":
    sys.exit(main())
