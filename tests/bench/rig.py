"""The benchmark's rig: a Redis to measure against, the roles as real processes, and load senders.

Everything listens on and talks to 127.0.0.1 only, and every load is bounded in count and time.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, free_port, signed_headers, sim_prices_file, wait_until

ROOT = Path(__file__).resolve().parents[2]
TRADE = "/qmt/trade/api/trade"
SHARED_DB = "redis://127.0.0.1:6379/14"  # used (and flushed) when no redis-server can be started


class BenchRedis:
    """A private redis-server on a free loopback port when one is installed, else database 14 of the local Redis."""

    def __init__(self, workdir: Path):
        self.process: subprocess.Popen | None = None
        binary = shutil.which("redis-server")
        if binary:
            port = free_port()
            self.process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                stdout=subprocess.DEVNULL,
            )
            self.url = f"redis://127.0.0.1:{port}/0"
        else:
            self.url = SHARED_DB
        self.connection = redis.Redis.from_url(self.url, socket_timeout=30)
        assert wait_until(self._pings, 10), f"no Redis answers at {self.url}"
        self.where = f"private redis-server {self.url}" if self.process else f"shared Redis {self.url} (flushed)"

    def _pings(self) -> bool:
        try:
            return bool(self.connection.ping())
        except redis.RedisError:
            return False

    def flush(self) -> None:
        self.connection.flushdb()

    def close(self) -> None:
        self.connection.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


class Stack:
    """The router's roles (and the baselines) as real processes in one folder against one Redis."""

    def __init__(self, redis_url: str, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "BROKER": "sim",
            "FLASK_HOST": "127.0.0.1", "FLASK_PORT": str(self.port), "FLASK_SECRET_KEY": "bench", "LOG_LEVEL": "WARNING",
            "QMT_CLIENT_ACCOUNT": CLIENT_ID, "QMT_CLIENT_SECRET": CLIENT_SECRET, "TRADER_CONFIGS": json.dumps(ACCOUNTS),
            "VAR_DIR": str(workdir / "var"), "SIM_PRICES_FILE": sim_prices_file(workdir), "SIM_STARTING_CASH": "1000000000",
            "ORDER_TTL": "600", "ADMIN_PASSWORD": "bench-admin", "TRADER_PASSWORD": "bench-trader",
            "QMT_CLIENT_DEFAULT_WAIT": "0",  # the intake is measured: the 202 at once, as the baselines answer
        }  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}
        self.started: dict[str, float] = {}

    @property
    def sim_dir(self) -> Path:
        return self.workdir / "var" / "sim"

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """`name` is a role (api, worker, scheduler) or `bare-web`/`bare-worker` (tests.bench.baseline)."""
        command = (
            [sys.executable, "-m", "tests.bench.baseline", *name.split("-")[1:], *args] if name.startswith("bare") else [sys.executable, "-m", name]
        )
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115  # kept open by the child
        self.started[name] = time.perf_counter()
        self.processes[name] = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.processes[name]

    def peak_rss_mb(self, name: str) -> float | None:
        """The process's peak resident set (VmHWM, Linux); None elsewhere."""
        return self._status_mb(name, "VmHWM:")

    def rss_mb(self, name: str) -> float | None:
        """The process's resident set now (VmRSS, Linux); None elsewhere."""
        return self._status_mb(name, "VmRSS:")

    def cpu_seconds(self) -> dict[str, float]:
        """{process: user and system CPU seconds used so far} of the stack's running processes (Linux; {} elsewhere)."""
        used = {}
        for name, process in self.processes.items():
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        return used

    def _status_mb(self, name: str, field: str) -> float | None:
        try:
            for line in Path(f"/proc/{self.processes[name].pid}/status").read_text().splitlines():
                if line.startswith(field):
                    return round(int(line.split()[1]) / 1024, 1)
        except (OSError, KeyError):
            pass
        return None

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def web_up(self, port: int | None = None, path: str = "/qmt/trade/api/health") -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=1)
            connection.request("GET", path)
            return connection.getresponse().status == 200
        except OSError:
            return False


def order_body(tag: str, price: float = 10.0) -> dict[str, Any]:
    return {"trader_index": 0, "symbol": "600000", "volume": 100, "price": price, "order_type": 23, "strategy_name": tag}


Requests = list[tuple[bytes, dict[str, str]]]  # (body, headers) of each request


def signed_requests(count: int, prefix: str) -> Requests:
    """`count` distinct signed order requests, made before the clock starts so the client's signing is not measured."""
    made = []
    for index in range(count):
        body = order_body(f"{prefix}{index}")
        made.append((json.dumps(body).encode(), {"Content-Type": "application/json", **signed_headers("POST", TRADE, body)}))
    return made


@dataclass
class Sent:
    scheduled: float  # unix time it was due (open loop: latency counts from here, so a late sender is not hidden)
    answered: float = 0.0
    status: int = 0
    job_id: str = ""


@dataclass
class Load:
    """What a sender did: one Sent per request, and the wall time it took."""

    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0

    def accepted(self) -> int:
        return sum(1 for s in self.sent if s.status == 202)


def _post(connection: http.client.HTTPConnection, path: str, request: tuple[bytes, dict[str, str]], record: Sent) -> None:
    connection.request("POST", path, request[0], request[1])
    answer = connection.getresponse()
    raw = answer.read()
    record.answered, record.status = time.time(), answer.status
    if answer.status == 202:
        record.job_id = json.loads(raw).get("job_id", "")


def closed_loop(port: int, path: str, requests: list[tuple[bytes, dict[str, str]]], connections: int) -> Load:
    """As fast as `connections` keep-alive connections go: the intake's capacity."""
    return _send(port, path, requests, connections, lambda index: time.time(), time.perf_counter())


def open_loop(port: int, path: str, requests: list[tuple[bytes, dict[str, str]]], rate: float, connections: int = 16) -> Load:
    """Request i is due at start + i/rate whatever the answers before it did (an open loop: queueing shows).

    Each is due a random part of a millisecond later too: a result's moment is known to the millisecond
    (job_times), and on an exact grid every due→result figure would fall on the same fraction of one.
    """
    wall0, perf0 = time.time() + 0.2, time.perf_counter() + 0.2
    jitter = random.Random(len(requests))  # the same dither for the router and its baseline
    offsets = [jitter.random() / 1000 for _ in requests]

    def wait_until_due(index: int) -> float:
        due = index / rate + offsets[index]
        pause = perf0 + due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        return wall0 + due

    return _send(port, path, requests, connections, wait_until_due, perf0)


def _send(port: int, path: str, requests: list[tuple[bytes, dict[str, str]]], connections: int, due_at: Callable[[int], float], since: float) -> Load:
    """Every request over `connections` keep-alive connections (thread k sends requests k, k + connections, ...);
    `due_at(i)` waits until request i is due and answers that moment (unix seconds); the load's seconds count from `since`."""
    load = Load(sent=[Sent(0.0) for _ in requests])

    def run(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for index in range(offset, len(requests), connections):
            load.sent[index].scheduled = due_at(index)
            _post(connection, path, requests[index], load.sent[index])
        connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - since
    return load


def fetch_job(connection: redis.Redis, job_id: str) -> Job:
    """RQ's own reading of a job (the router's and the baselines' jobs alike are stored with RQ's JSONSerializer)."""
    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer)


def rq_moment(raw: Any) -> float | None:
    """Unix seconds of a moment RQ stored in a job hash (enqueued_at, started_at: ISO 8601, microseconds, UTC)."""
    return datetime.fromisoformat(raw.decode().replace("Z", "+00:00")).timestamp() if raw else None


def job_times(connection: redis.Redis, job_id: str) -> tuple[float | None, float | None]:
    """(started, result written) in unix seconds, from RQ's own records: the job hash and its result stream's entry id.

    The entry id holds whole milliseconds (the moment cut down): the middle of that millisecond is taken, so a
    sub-millisecond figure is not made to look up to 1 ms earlier than it was.
    """
    started = rq_moment(connection.hget(f"rq:job:{job_id}", "started_at"))
    entries: Any = connection.xrange(f"rq:results:{job_id}", count=1)
    result = (int(entries[0][0].decode().split("-")[0]) + 0.5) / 1000 if entries else None
    return started, result


_shown: dict[str, tuple[int, float]] = {}
TERMINAL = sys.stdout.isatty()  # a bar redrawn in place on a terminal; plain lines, fewer, in a log


def progress(label: str, done: int, total: int) -> None:
    """A one-line progress bar, redrawn when the count moved and at most 5 times a second (in a log: a line every 2 s)."""
    last = _shown.get(label)
    if last is not None and (last[0] == done or time.monotonic() - last[1] < (0.2 if TERMINAL else 2.0)):
        return
    _shown[label] = (done, time.monotonic())
    width = 30
    filled = int(width * done / max(total, 1))
    line = f"  {label:<34} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
    print(f"\r{line}" if TERMINAL else line, end="" if TERMINAL else "\n", flush=True)


def finished(label: str, text: str) -> None:
    _shown.pop(label, None)
    print(f"\r  {label:<34} {text:<50}" if TERMINAL else f"  {label:<34} {text}", flush=True)
