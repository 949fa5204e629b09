"""worker.in_flight: room for BROKER_IN_FLIGHT sends, freed when the broker answers — or, for a send whose answer never
came, only once its job is ended (the terminal may still be working through it)."""

from __future__ import annotations

import threading

from tests.support import wait_until
from worker.in_flight import InFlight


def test_a_sends_room_is_freed_when_the_broker_answers_before_its_job_is_recorded():
    sends = InFlight(1)
    recording = threading.Event()
    sends.hand_off("a", lambda: 1001, lambda heard: recording.wait(5))
    assert wait_until(lambda: sends.sending == 0, 5)  # answered: the next send may go while this job is recorded
    assert sends.wait_for_room(lambda: True)
    assert not sends.drain(0.05)  # its job is not ended yet
    recording.set()
    assert sends.drain(5)


def test_a_send_whose_answer_never_came_keeps_its_room_until_its_job_is_ended():
    sends = InFlight(1)
    ended = threading.Event()
    searched = threading.Event()

    def end(heard: object) -> None:
        searched.set()
        ended.wait(5)  # the tag listened for and searched

    sends.hand_off("b", lambda: TimeoutError("no answer"), end, answered=lambda heard: not isinstance(heard, TimeoutError))
    assert searched.wait(5)
    assert sends.sending == 1 and not sends.wait_for_room(lambda: not searched.is_set())  # no room for another send
    ended.set()
    assert wait_until(lambda: sends.sending == 0, 5) and sends.drain(5)


def test_an_ending_that_fails_sets_the_fault_and_frees_everything():
    sends = InFlight(2)

    def end(heard: object) -> None:
        raise ConnectionError("Redis went away")

    sends.hand_off("c", lambda: 1002, end)
    assert wait_until(sends.fault.is_set, 5)
    assert sends.drain(5) and sends.sending == 0
