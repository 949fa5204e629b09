"""One `python -m worker` for every QMT terminal of the config: a worker process per terminal, each restarted when it
stops, none stopping the others.

Each terminal needs its own QMT session, lease, queues and heartbeat, and RQ's worker loop wants the main thread of
its process (its signal handlers), so each terminal gets a process of its own: `python -m worker --terminal NAME`,
started here with the same environment and output. A child that exits is started again after a pause that grows
with its failures in a row (a terminal that is down does not spin); SIGINT or SIGTERM stops them all and waits.
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from common.store.terminals import Terminal

log = logging.getLogger("worker.supervisor")
BACKOFF_SECONDS = (1, 2, 5, 10, 30)  # before the 1st, 2nd, ... restart of a child that keeps stopping; then 30 s
STEADY_SECONDS = 60.0  # a child that ran this long had recovered: its failures in a row start again from 0
STOP_WAIT_SECONDS = 20.0  # how long a stopping child may take before it is killed


@dataclass
class Child:
    """The worker process of one terminal."""

    terminal: Terminal
    burst: bool
    process: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0
    due: float = field(default=0.0)  # monotonic time of its next start

    def start(self) -> None:
        command = [sys.executable, "-m", "worker", "--terminal", self.terminal.name, "--supervised", *(["--burst"] if self.burst else [])]
        # its stdin is a pipe from this process: when this process dies (even SIGKILLed) the child reads its end and stops
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE)
        self.started = time.monotonic()
        log.info("terminal %s: worker started (pid %d)", self.terminal.name, self.process.pid)


def run(chosen: list[Terminal], burst: bool = False) -> int:
    """Serve every terminal of `chosen` until SIGINT/SIGTERM (or, with `burst`, until each child drained its queues);
    the exit status: 0, or with `burst` the highest status a child ended with."""
    stopping = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM"):
            signal.signal(getattr(signal, name), lambda *_: stopping.set())
    children = [Child(terminal, burst) for terminal in chosen]
    log.info("serving %d terminals: %s", len(children), ", ".join(c.terminal.name for c in children))
    for child in children:
        child.start()
    ended: dict[str, int] = {}
    while not stopping.is_set() and len(ended) < len(children):
        for child in children:
            if child.terminal.name in ended:
                continue
            if child.process is None:
                if time.monotonic() >= child.due:
                    child.start()
                continue
            code = child.process.poll()
            if code is None:
                continue
            if burst:
                ended[child.terminal.name] = code
                continue
            child.failures = 0 if time.monotonic() - child.started >= STEADY_SECONDS else child.failures + 1
            pause = BACKOFF_SECONDS[min(child.failures, len(BACKOFF_SECONDS) - 1)]
            log.error("terminal %s: worker exited with %s; starting it again in %d s (the other terminals go on)", child.terminal.name, code, pause)
            child.process = None
            child.due = time.monotonic() + pause
        stopping.wait(0.2)
    _stop(children)
    return max(ended.values(), default=0) if burst else 0


def _stop(children: list[Child]) -> None:
    """Ask every running child to stop (SIGTERM), then wait for it; kill one that will not."""
    running = [c for c in children if c.process is not None and c.process.poll() is None]
    for child in running:
        assert child.process is not None
        child.process.terminate()
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    for child in running:
        assert child.process is not None
        try:
            child.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.error("terminal %s: worker did not stop in %.0f s; killed", child.terminal.name, STOP_WAIT_SECONDS)
            child.process.kill()
            child.process.wait(5)


def stop_with_parent() -> None:
    """In a supervised child: stop this worker cleanly (as SIGINT would) once the supervisor is gone, which closes the
    pipe on our stdin; so no worker outlives its supervisor, however that one ended (Windows and POSIX alike)."""

    def watch() -> None:
        try:  # the raw descriptor: a buffered read would hold a lock the interpreter's shutdown then waits for
            while os.read(sys.stdin.fileno(), 1024):
                pass
        except (OSError, ValueError):
            pass
        log.error("the supervising worker process is gone: this terminal's worker stops")
        _thread.interrupt_main(signal.SIGINT)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
