"""python -m scheduler: the scheduler role against REDIS_URL; stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading

from common.roles import role_redis, role_settings
from scheduler.service import run


def main() -> int:
    settings = role_settings("scheduler")
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
    run(settings, role_redis("scheduler", settings), stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
