"""Slow and hostile clients against the web role as a real process (`python -m api` on waitress): it keeps answering."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Roles
from tests.support import SignedHttpClient, wait_until

pytestmark = pytest.mark.integration
TRADE = "/qmt/trade/api/trade"
HEALTH = "/qmt/trade/api/health"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 10.0, "order_type": 23}


def start_web(roles: Roles, http: SignedHttpClient) -> int:
    """Start `python -m api` alone (no worker: jobs stay queued) and wait until it answers; its pid."""
    process = roles.start("api")

    def answers() -> bool:
        assert process.poll() is None, roles.log("api")
        try:
            return http.get(HEALTH).status == 200
        except OSError:
            return False

    assert wait_until(answers, 20, 0.1), roles.log("api")
    return process.pid


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    answer = call()
    return time.monotonic() - started, answer


def raw_request(port: int, head: str, body_chunks, timeout: float = 20) -> tuple[float, bytes]:
    """Send `head` and then the body chunks from a thread while reading the answer here; (seconds to the answer, answer)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send() -> None:
        try:
            connection.sendall(head.encode("latin-1"))
            for chunk in body_chunks:
                connection.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending: what a limit does

    started = time.monotonic()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    elapsed = time.monotonic() - started
    connection.close()
    sender.join(5)
    return elapsed, answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures the web's RSS through /proc")
def test_a_10_mb_body_is_413_at_once_and_the_web_does_not_grow(roles, http, role_env):
    pid = start_web(roles, http)
    port = int(role_env["FLASK_PORT"])
    before = rss_kb(pid)
    body = json.dumps({**ORDER, "padding": "x" * 10_000_000}).encode()
    head = (
        f"POST {TRADE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Client-ID: test-client\r\nX-Timestamp: {int(time.time())}\r\nX-Signature: {'0' * 64}\r\n\r\n"
    )
    elapsed, answer = raw_request(port, head, (body[i : i + 65536] for i in range(0, len(body), 65536)))
    grown = rss_kb(pid) - before
    print(f"10 MB body: {status_of(answer)} after {elapsed * 1000:.0f} ms; web RSS {before} kB -> +{grown} kB")
    assert status_of(answer) == 413, answer[:300]
    assert elapsed < 2.0  # the promise: refused at once, before the body is read (milliseconds, loaded or not)
    assert grown < 5_000, f"the web grew by {grown} kB"
    assert http.get(HEALTH).status == 200


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(roles, http, role_env):
    start_web(roles, http)
    chunk = b"x" * 32_768
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(64)] + [b"0\r\n\r\n"]  # 2 MB in all
    head = (
        f"POST {TRADE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        f"X-Client-ID: test-client\r\nX-Timestamp: {int(time.time())}\r\nX-Signature: {'0' * 64}\r\n\r\n"
    )
    elapsed, answer = raw_request(int(role_env["FLASK_PORT"]), head, chunks)
    print(f"chunked 2 MB body: {status_of(answer)} after {elapsed * 1000:.0f} ms")
    assert status_of(answer) == 413, answer[:300]


def test_forty_long_polls_leave_health_answering_at_once(roles, http):
    start_web(roles, http)
    accepted = http.post(TRADE, ORDER)
    assert accepted.status == 202, accepted.body
    job_path = f"/qmt/trade/api/jobs/{accepted.body['job_id']}"
    answered: list[float] = []

    def poll() -> None:
        started = time.monotonic()
        try:
            if http.get(job_path, query="wait=30").status == 200:
                answered.append(time.monotonic() - started)
        except OSError:
            pass  # the web stopped at the end of the test while this poll still waited

    for _ in range(40):
        threading.Thread(target=poll, daemon=True).start()
    # Beyond its waiting slots a poll answers at once with the job as it stands (queued: no worker runs); the polls
    # that got a slot hold theirs for 30 s, so waiting up to 15 s for the others tells the two apart on a loaded machine.
    beyond_the_budget = wait_until(lambda: len(answered) >= 40 - 20, 15)
    health_seconds, health = timed(lambda: http.get(HEALTH))
    print(f"40 long polls: {len(answered)} answered at once; /health in {health_seconds * 1000:.0f} ms")
    assert beyond_the_budget, f"only {len(answered)} of 40 long polls answered at once"
    # the promise: /health is not queued behind the 30 s polls; at once, with a margin for a loaded machine
    assert health.status == 200 and health_seconds < 10  # type: ignore[attr-defined]


def test_120_slow_sockets_leave_a_signed_order_answering(roles, http, role_env):
    start_web(roles, http)
    port = int(role_env["FLASK_PORT"])
    slow = []
    try:
        for _ in range(120):  # each sends half a request and then nothing, as a slowloris does
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(f"POST {TRADE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n".encode())
            slow.append(connection)
        done: list = []

        def order() -> None:
            try:
                done.append(timed(lambda: http.post(TRADE, ORDER)))
            except OSError as failure:
                done.append((0.0, failure))

        threading.Thread(target=order, daemon=True).start()
        answered = wait_until(lambda: bool(done), 10)
        assert answered, "the signed order got no answer within 10 s behind 120 slow sockets"
        seconds, answer = done[0]
        print(f"120 slow sockets: signed order answered {answer.status} in {seconds * 1000:.0f} ms")
        assert answer.status == 202, answer.body
    finally:
        for connection in slow:
            connection.close()
