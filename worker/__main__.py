"""python -m worker [--burst]: the worker role against REDIS_URL."""
from __future__ import annotations

import sys

from common.exceptions import ConfigError
from common.roles import role_settings
from common.store import connect
from worker.runner import serve


def main() -> int:
    settings = role_settings("worker")
    try:
        serve(settings, connect(settings), burst="--burst" in sys.argv)
    except ConfigError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
