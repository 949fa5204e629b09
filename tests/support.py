"""What tests share: settings without a developer's .env, and a client that signs like the old server's."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from api.signing import sign
from common.config.settings import Settings, load_settings
from common.store.payloads import OrderPayload

# The processes a test starts with an environment of its own write their bytecode where this run's goes (run.py puts it
# under .venv), never into the checkout.
KEEP_BYTECODE_AWAY = {key: value for key, value in os.environ.items() if key == "PYTHONPYCACHEPREFIX"}
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-0123456789"
ACCOUNTS = [{"account_id": "SIM000001", "nick_name": "main"}, {"account_id": "SIM000002", "nick_name": "second"}]


SIM_PRICES = {"600000.SH": 10.0, "000001.SZ": 11.0, "510300.SH": 4.0, "688981.SH": 50.0, "131810.SZ": 1.8, "204001.SH": 1.75}


def sim_prices_file(directory) -> str:
    """A SIM_PRICES_FILE pinning the prices the tests trade at."""
    from pathlib import Path

    file = Path(directory) / "prices.json"
    file.write_text(json.dumps(SIM_PRICES), encoding="utf-8")
    return str(file)


def _var_dir() -> str:
    """A temporary VAR_DIR of the test run's own, removed when the run ends (never the checkout's var/)."""
    folder = tempfile.mkdtemp(prefix="router-var-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test: no .env, one signing client, two simulator accounts, then `overrides`."""
    values: dict[str, Any] = {
        "_env_file": None,
        "VAR_DIR": overrides["VAR_DIR"] if "VAR_DIR" in overrides else _var_dir(),  # each test's run-time files are its own
        "FLASK_SECRET_KEY": "test-flask-secret",
        "QMT_CLIENT_ACCOUNT": CLIENT_ID,
        "QMT_CLIENT_SECRET": CLIENT_SECRET,
        # this suite's client polls its jobs: answered 202 at once (tests/integration/test_old_sdks.py has the default wait)
        "QMT_CLIENT_DEFAULT_WAIT": 0,
        "LOGIN_CLIENT_DEFAULT_WAIT": 0,
        "TRADER_CONFIGS": ACCOUNTS,
        "REDIS_URL": "",
        "BROKER": "sim",
    }
    values.update(overrides)
    return load_settings(**values)


def signed_headers(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: str = "",
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    timestamp: float | None = None,
) -> dict[str, str]:
    """The three signature headers for a request, signed over the canonical JSON of `body`."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {
        "X-Client-ID": client_id,
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, method, path, query, body, stamp, client_id),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class HttpAnswer:
    status: int
    body: dict


@dataclass
class SignedHttpClient:
    """A stdlib HTTP client for a running server that signs every request (as the README's example does)."""

    base_url: str
    client_id: str = CLIENT_ID
    secret: str = CLIENT_SECRET

    def request(self, method: str, path: str, body: Any = None, query: str = "", raw: bytes | None = None) -> HttpAnswer:
        headers = signed_headers(method, path, body, query=query, client_id=self.client_id, secret=self.secret)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path + (f"?{query}" if query else "")
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=40) as answer:
                return HttpAnswer(answer.status, json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as error:
            return HttpAnswer(error.code, json.loads(error.read() or b"{}"))

    def get(self, path: str, query: str = "") -> HttpAnswer:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any) -> HttpAnswer:
        return self.request("POST", path, body)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def order_deadline(connection, job_id: str) -> float:
    """The unix time after which the order job is never sent (its payload's deadline)."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer).kwargs["payload"]["deadline"]


def order_payload(**change: Any) -> OrderPayload:
    """A valid order job payload for account 0 (100 600000.SH at 10.00, limit), with `change` applied."""
    values: dict[str, Any] = dict(
        account_index=0,
        account_id="SIM000001",
        symbol="600000.SH",
        order_type=23,
        volume=100,
        price=10.0,
        price_type=0,
        xt_price_type=11,
        deadline=time.time() + 60,
    )
    values.update(change)
    return OrderPayload(**values)


def while_worker_runs(request, settings, connection, *, expect_jobs: int = 1):
    """Run `request()` (which waits on query jobs) in a thread while the real worker loop drains the queues here.

    The worker must own the main thread (it installs signal handlers), so the request goes to a thread.
    """
    import threading

    from common.store import jobqueue as queues
    from common.store import keys
    from worker.runner import serve

    answer: list = []
    caller = threading.Thread(target=lambda: answer.append(request()))
    caller.start()
    queued = lambda: sum(queues.queue(connection, n).count for n in keys.QUEUES_BY_PRIORITY) >= expect_jobs  # noqa: E731
    assert wait_until(queued, 5), "the request queued no job"
    serve(settings, connection, burst=True)
    caller.join(10)
    assert answer, "the request did not return"
    return answer[0]
