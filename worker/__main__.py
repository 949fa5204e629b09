"""python -m worker [--terminal NAME ...] [--burst]: the worker role, against REDIS_URL.

With no --terminal it serves every QMT terminal of TRADER_CONFIGS: one terminal in this process; several, a worker
process each (worker.supervisor), none stopping the others. `--terminal NAME` (repeatable) narrows it to those, for
terminals on other machines. A worker whose terminal another worker took over stands by until the lease is free
again; with --burst it exits with status 3 instead.
"""

from __future__ import annotations

import sys

from common.roles import refuse_start, role_redis, role_settings
from common.rules.exceptions import ConfigError
from common.store import terminals
from common.store.connections import dequeue_connection
from worker import supervisor
from worker.runner import serve

LEASE_LOST = 3  # exit status


def _chosen(argv: list[str]) -> list[str]:
    """The names given with --terminal (repeatable), in order."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--terminal"]


def main() -> int:
    settings = role_settings("worker")
    burst = "--burst" in sys.argv
    try:
        names = _chosen(sys.argv)
        chosen = [terminals.named(settings, name) for name in names] if names else terminals.terminals(settings)
        if len(chosen) > 1:
            return supervisor.run(chosen, burst)
        if "--supervised" in sys.argv:
            supervisor.stop_with_parent()
        kept = serve(settings, role_redis("worker", settings), burst=burst, dequeue=dequeue_connection(settings), terminal_name=chosen[0].name)
    except ConfigError as error:
        refuse_start("worker", error.message)
    return 0 if kept else LEASE_LOST


if __name__ == "__main__":
    sys.exit(main())
