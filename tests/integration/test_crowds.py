"""A crowd never starves the traders: 160 readers at once, and 520 idle sockets from one address, against the web role
as a real process, while an order and /health from elsewhere are still answered at once."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import wait_ready
from tests.support import signed_headers, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23}
PROMISE = 2.0  # seconds /health and an order's 202 may take while the crowd is there (the time is the promise)


def _call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict, dict]:
    """(status, body, headers) of one signed request."""
    headers = signed_headers(method, path, body)
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}"), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def _timed(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
    began = time.monotonic()
    status, _, _ = _call(base, method, path, body, timeout=PROMISE + 3)
    return status, time.monotonic() - began


def test_160_readers_at_once_answer_within_the_waiting_budget_and_never_hold_up_an_order(roles, http):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    roles.processes["worker"].send_signal(signal.SIGSTOP)  # queries now wait: none answers before QUERY_TIMEOUT
    answers: list[tuple[int, dict, dict]] = []
    lock = threading.Lock()

    def read() -> None:
        answer = _call(http.base_url, "GET", f"{API}/portfolio/0")
        with lock:
            answers.append(answer)

    try:
        crowd = [threading.Thread(target=read) for _ in range(160)]
        for reader in crowd:
            reader.start()
        health, health_took = _timed(http.base_url, "GET", f"{API}/health")
        order, order_took = _timed(http.base_url, "POST", f"{API}/trade", ORDER)
        for reader in crowd:
            reader.join(60)
    finally:
        roles.processes["worker"].send_signal(signal.SIGCONT)
    assert health in (200, 503) and health_took < PROMISE, (health, health_took)
    assert order == 202 and order_took < PROMISE, (order, order_took)
    statuses = sorted({status for status, _, _ in answers})
    assert len(answers) == 160 and set(statuses) <= {429, 503}, statuses  # never a 202 an old SDK would read as an empty answer
    for status, body, headers in answers:
        assert headers.get("Retry-After"), (status, body)
        if status == 503:
            assert body["job_id"].startswith("q"), body
    assert any(status == 429 and "QUERY_RATE_PER_CLIENT" in body["error"] for status, body, _ in answers)


def test_520_idle_sockets_from_one_address_never_lock_another_out(roles, http):
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    port = int(http.base_url.rsplit(":", 1)[1])
    idle: list[socket.socket] = []
    try:
        for _ in range(520):  # a slowloris from 127.0.0.2: connected, sending nothing
            flood = socket.socket()
            flood.bind(("127.0.0.2", 0))
            flood.settimeout(5)
            try:
                flood.connect(("127.0.0.1", port))
            except OSError:
                flood.close()
                break
            idle.append(flood)
        assert wait_until(lambda: "refusing more" in roles.log("api"), 10), roles.log("api")
        health, health_took = _timed(http.base_url, "GET", f"{API}/health")
        order, order_took = _timed(http.base_url, "POST", f"{API}/trade", ORDER)
    finally:
        for flood in idle:
            flood.close()
    assert health in (200, 503) and health_took < PROMISE, (health, health_took)
    assert order == 202 and order_took < PROMISE, (order, order_took)
