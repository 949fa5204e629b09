"""Broker calls in flight: how many order sends a terminal has outstanding, and the threads that end their jobs.

The worker's loop takes a job only when fewer than BROKER_IN_FLIGHT sends are outstanding (`wait_for_room`, asked
before each dequeue), so a cancel queued behind a thousand orders is taken, and sent, before any order not yet sent.
An order job does everything up to its send in the loop's thread (deadline, sizing, risk gate, the fence), sends with
the broker's async call, and hands the rest to `hand_off`: a thread that waits for the broker's answer, frees the
send's room at once, then records the job's result. The job stays started in Redis meanwhile, so a worker that dies
with sends in flight leaves each to recovery, which looks for its order by tag (worker.recovery), as for any job it
was running.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("worker.in_flight")
ROOM_CHECK_SECONDS = 0.1  # how often a wait for room asks whether the loop should stop instead


class InFlight:
    """Room for `limit` outstanding broker sends, and the ending threads of the jobs that sent them."""

    def __init__(self, limit: int):
        self.limit = max(1, limit)
        self._changed = threading.Condition()
        self._sending = 0  # sends whose broker answer has not come (or timed out)
        self._ending = 0  # handed-off jobs whose result is not yet recorded
        self.fault = threading.Event()  # an ending thread could not record its job: the loop stops, then recovery settles it

    @property
    def sending(self) -> int:
        with self._changed:
            return self._sending

    def wait_for_room(self, keep_going: Callable[[], bool]) -> bool:
        """Block until fewer than `limit` sends are outstanding (True), or `keep_going()` turns False (False)."""
        with self._changed:
            while self._sending >= self.limit:
                if not keep_going():
                    return False
                self._changed.wait(ROOM_CHECK_SECONDS)
        return True

    def wait_for_answers(self, timeout: float) -> bool:
        """Block until every send out was answered (or timed out) (True), or `timeout` s passed (False): what a query of
        the open orders then reads includes every order sent before it."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._sending, timeout)

    def hand_off(
        self, name: str, answer: Callable[[], object], end: Callable[[object], None], answered: Callable[[object], bool] = lambda _: True
    ) -> None:
        """One send is out: on a new thread (with the job's log context), `answer()` waits for the broker's answer, then
        `end(what answer returned)` records the job. The send's room is freed once `answered(what it returned)` says
        the broker answered; a send still unanswered (timed out) keeps its room until its job is ended, since the
        terminal may still be working through it: a slow terminal is never given more than `limit` sends."""
        with self._changed:
            self._sending += 1
            self._ending += 1
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run, answer, end, answered), name=f"send-{name}", daemon=True).start()

    def _free_room(self) -> None:
        with self._changed:
            self._sending -= 1
            self._changed.notify_all()

    def _run(self, answer: Callable[[], object], end: Callable[[object], None], answered: Callable[[object], bool]) -> None:
        holding = True
        try:
            heard = answer()
            if answered(heard):
                holding = False
                self._free_room()
            end(heard)
        except Exception:  # the job stays started: recovery settles it by its tag once the loop stops
            log.exception("a sent job's ending could not be recorded; the worker stops taking jobs to settle it by its tag")
            self.fault.set()
        finally:
            if holding:
                self._free_room()
            with self._changed:
                self._ending -= 1
                self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every handed-off job is ended (True), or `timeout` s passed (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._ending, timeout)
