"""python -m scheduler: the scheduler role against REDIS_URL; stops cleanly on SIGINT/SIGTERM."""
from __future__ import annotations

import signal
import sys
import threading

from common.exceptions import ConfigError
from common.logs import configure
from common.settings import get_settings
from common.store import connect
from scheduler.service import run


def main() -> int:
    try:
        settings = get_settings()
    except ConfigError as error:
        print(f"scheduler: {error}", file=sys.stderr)
        return 2
    configure(settings.LOG_LEVEL)
    if not settings.REDIS_URL:
        print("scheduler: REDIS_URL is not set; run `python run.py` for the embedded single-process mode", file=sys.stderr)
        return 2
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
    run(settings, connect(settings), stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
