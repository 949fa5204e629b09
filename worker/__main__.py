"""python -m worker: the worker role against REDIS_URL."""
from __future__ import annotations

import sys

from common.exceptions import ConfigError
from common.logs import configure
from common.settings import get_settings
from common.store import connect
from worker.runner import serve


def main() -> int:
    try:
        settings = get_settings()
    except ConfigError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    configure(settings.LOG_LEVEL)
    if not settings.REDIS_URL:
        print("worker: REDIS_URL is not set; run `python run.py` for the embedded single-process mode", file=sys.stderr)
        return 2
    try:
        serve(settings, connect(settings), burst="--burst" in sys.argv)
    except ConfigError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
