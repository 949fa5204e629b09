"""Do open status pages slow order intake or job polling? Medians with 0 and with N pages, measured in the same run.

    .venv/bin/python -m tests.bench.bench_pages [--pages 20] [--runs 3] [--orders 40] [--redis redis://127.0.0.1:6379/14]

Starts the web, the worker and the scheduler as real processes on the real Redis (its own database,
flushed), then a signing client places `--orders` limit orders one after another at about 5 a second,
and for each measures:

- intake: signed POST /trade until its 202;
- poll: one signed GET /jobs/<id> (no wait) right after;
- to finished: from the POST until GET /jobs/<id>?wait=10 shows the job `finished` (worker included).

`--runs` runs without pages, then `--runs` runs with `--pages` simulated status pages open, each doing
what static/status.js does: logged in through the login form (cookie and CSRF token), GET /health every
10 s, the kill switch every 15 s, a long poll on /events?wait=20 (one at a time, at least 2 s apart; when it
comes back at once with nothing, a 5 s pause), and on the events that concern them the last jobs (at most every 5 s) and each
account's portfolio, positions, orders and trades, one after another, accepting an answer 3 s old (max_age=3)
(at most every 15 s; every 60 s anyway).
Not a test: timings depend on the machine; the comparison is the point.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, SignedHttpClient, free_port, sim_prices_file, wait_until  # noqa: E402

API = "/qmt/trade/api"
TRADER_PASSWORD = "bench-trader-pw"


class StatusPage:
    """One open status page: a browser's cookie jar and the page's timers, in three threads."""

    def __init__(self, base: str, stop: threading.Event):
        self.base = base
        self.stop = stop
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.requests = 0
        self.dirty = {"jobs": True, "accounts": True}
        self.lock = threading.Lock()

    def _get(self, path: str, body: dict | None = None, timeout: float = 40) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", **({"Content-Type": "application/json", "X-CSRFToken": self.token} if data else {})}
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method="POST" if data else "GET")
        self.requests += 1
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            return json.loads(error.read() or b"{}")
        except OSError:
            return {}

    def open(self) -> None:
        form = self.opener.open(self.base + "/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        login = urllib.parse.urlencode({"username": "trader", "password": TRADER_PASSWORD, "csrf_token": token}).encode()
        page = self.opener.open(urllib.request.Request(self.base + "/login", data=login, headers={"Accept": "text/html"}), timeout=10).read().decode()
        self.token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        for target in (self._follow, self._vitals, self._panels):
            threading.Thread(target=target, daemon=True).start()

    def _follow(self) -> None:
        answer = self._get(f"{API}/events?last=25")
        cursor = answer.get("next", "0-0")
        while not self.stop.is_set():
            started = time.monotonic()
            answer = self._get(f"{API}/events?after={cursor}&wait=20&limit=200")
            found = answer.get("events")
            if found is None:
                self.stop.wait(3)
                continue
            cursor = answer["next"]
            kinds = {event["kind"] for event in found}
            with self.lock:
                self.dirty["jobs"] |= bool(kinds & {"job", "order"})
                self.dirty["accounts"] |= bool(kinds & {"order", "trade", "order_error", "cancel_error"})
            if not found and time.monotonic() - started < 1:
                self.stop.wait(5)
            else:
                self.stop.wait(max(0.0, started + 2 - time.monotonic()))  # at least 2 s between reads

    def _vitals(self) -> None:
        last_kill_switch = 0.0
        while not self.stop.is_set():
            self._get(f"{API}/health")
            if time.monotonic() - last_kill_switch >= 15:
                self._get(f"{API}/risk/kill_switch")
                last_kill_switch = time.monotonic()
            self.stop.wait(10)  # as static/status.js HEALTH_EVERY_MS

    def _panels(self) -> None:
        last = {"jobs": 0.0, "accounts": 0.0}
        gap = {"jobs": 5.0, "accounts": 15.0}  # as static/status.js
        while not self.stop.is_set():
            now = time.monotonic()
            for panel in ("jobs", "accounts"):
                with self.lock:
                    due = (self.dirty[panel] and now - last[panel] >= gap[panel]) or now - last[panel] >= (60 if panel == "accounts" else 30)
                    if due:
                        self.dirty[panel] = False
                if due:
                    last[panel] = now
                    if panel == "jobs":
                        self._get(f"{API}/jobs?limit=15")
                    else:
                        for index in range(len(ACCOUNTS)):
                            self._get(f"{API}/portfolio/{index}?max_age=3")
                            self._get(f"{API}/positions/{index}?max_age=3")
                            self._get(f"{API}/orders?max_age=3", {"trader_index": index})
                            self._get(f"{API}/trades/{index}?max_age=3")
            self.stop.wait(0.3)


def measure(client: SignedHttpClient, orders: int, tag: str) -> dict[str, list[float]]:
    """Place `orders` resting limit buys, one at a time, at about 5 a second; the three latencies of each, in ms."""
    found: dict[str, list[float]] = {"intake": [], "poll": [], "to_finished": []}
    for index in range(orders):
        body = {
            "trader_index": index % len(ACCOUNTS),
            "symbol": "600000",
            "volume": 100,
            "price": 9.5,
            "order_type": 23,
            "strategy_name": f"{tag}-{index}",
        }
        started = time.perf_counter()
        accepted = client.post(f"{API}/trade", body)
        found["intake"].append((time.perf_counter() - started) * 1000)
        assert accepted.status == 202, accepted.body
        path = f"{API}/jobs/{accepted.body['job_id']}"
        polled = time.perf_counter()
        client.get(path)
        found["poll"].append((time.perf_counter() - polled) * 1000)
        view = client.get(path, "wait=10").body
        while view["status"] in ("queued", "started"):
            view = client.get(path, "wait=10").body
        assert view["status"] == "finished", view
        found["to_finished"].append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, 0.2 - (time.perf_counter() - started)))
    return found


def open_pages(count: int, url: str) -> int:
    """The child process: `count` status pages open until standard input closes; then prints how many requests they sent."""
    stop = threading.Event()
    opened = [StatusPage(url, stop) for _ in range(count)]
    for page in opened:
        page.open()
    print("open", flush=True)
    before = sum(page.requests for page in opened)
    sys.stdin.read()
    stop.set()
    print(sum(page.requests for page in opened) - before, flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--as-pages", type=int, help=argparse.SUPPRESS)  # the child process that plays the open pages
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_pages:
        return open_pages(args.as_pages, args.url)
    connection = redis.Redis.from_url(args.redis)
    connection.flushdb()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": args.redis,
            "FLASK_PORT": str(port),
            "FLASK_SECRET_KEY": "bench-secret",
            "TRADER_PASSWORD": TRADER_PASSWORD,
            "LOG_LEVEL": "WARNING",
            "QMT_CLIENT_ACCOUNT": CLIENT_ID,
            "QMT_CLIENT_SECRET": CLIENT_SECRET,
            "QMT_CLIENT_DEFAULT_WAIT": "0",  # the bench's orders are load for the pages, answered at once
            "TRADER_CONFIGS": json.dumps(ACCOUNTS),
            "VAR_DIR": f"{workdir}/var",
            "SIM_PRICES_FILE": sim_prices_file(workdir),
        }
        roles = [
            subprocess.Popen([sys.executable, "-m", role], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for role in ("api", "worker", "scheduler")
        ]
        client = SignedHttpClient(f"http://127.0.0.1:{port}")
        try:
            ready = lambda: _answers(client) and client.get(f"{API}/health").body.get("ready") is True  # noqa: E731
            assert wait_until(ready, 60, 0.2), "the router did not get ready"
            results: dict[int, list[dict[str, float]]] = {0: [], args.pages: []}
            for pages in (0, args.pages):
                # the pages run in a process of their own, as browsers would: they never take this process's GIL from the client measured
                browsers = None
                if pages:
                    command = [sys.executable, "-m", "tests.bench.bench_pages", "--as-pages", str(pages), "--url", client.base_url]
                    browsers = subprocess.Popen(command, cwd=str(ROOT), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    assert browsers.stdout is not None and browsers.stdout.readline().strip() == "open", "the simulated pages did not open"
                    time.sleep(5)  # their first load
                queries_before = _finished_queries(connection)
                started = time.monotonic()
                for run in range(args.runs):
                    found = measure(client, args.orders, f"p{pages}r{run}")
                    medians = {name: statistics.median(values) for name, values in found.items()}
                    results[pages].append(medians)
                    print(f"pages={pages:2} run={run + 1}  " + "  ".join(f"{name} {value:7.2f} ms" for name, value in medians.items()), flush=True)
                elapsed = time.monotonic() - started
                query_rate = (_finished_queries(connection) - queries_before) / elapsed
                if browsers is not None:
                    assert browsers.stdin is not None and browsers.stdout is not None
                    browsers.stdin.close()  # the pages close
                    sent = int(browsers.stdout.readline() or 0)
                    browsers.wait(30)
                    print(f"pages={pages:2} the pages sent {sent / elapsed:.1f} requests/s; the worker ran {query_rate:.1f} query jobs/s", flush=True)
            print("\nmedian of the runs' medians (ms):")
            print(f"{'':16}{'0 pages':>10}{f'{args.pages} pages':>11}{'ratio':>8}")
            for name in ("intake", "poll", "to_finished"):
                without = statistics.median(run[name] for run in results[0])
                with_pages = statistics.median(run[name] for run in results[args.pages])
                print(f"{name:16}{without:10.2f}{with_pages:11.2f}{with_pages / without:8.2f}")
        finally:
            for role in roles:
                role.terminate()
            for role in roles:
                role.wait(15)
            connection.flushdb()
    return 0


def _answers(client: SignedHttpClient) -> bool:
    try:
        client.get(f"{API}/health")
        return True
    except OSError:
        return False


def _finished_queries(connection: redis.Redis) -> int:
    """Query jobs the worker has finished so far (RQ's finished registry of the query queue, while they are kept)."""
    return int(connection.zcard("rq:finished:query"))


if __name__ == "__main__":
    sys.exit(main())
