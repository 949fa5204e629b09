"""Replays the hostile-input, frozen-Redis and slow-client attacks against the three roles and prints a table.

    .venv/bin/python -m tests.bench.attacks

Starts a private redis-server on a free loopback port and web, worker and scheduler as real
processes in a temporary folder; every attack is bounded in count and time and aimed at
127.0.0.1 only. For each attack: what answered and how fast, how many orders reached the
(simulated) broker, and the web's RSS and Redis's memory before and after. It exits 1 when an
order was doubled, an answer was a 5xx other than 503, or memory grew by more than a few MB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, SignedHttpClient, free_port, signed_headers, sim_prices_file, wait_until

ROOT = Path(__file__).resolve().parents[2]
API = "/qmt/trade/api"
ORDER = {"trader_index": 0, "symbol": "600000", "volume": 100, "price": 9.5, "order_type": 23}
GROWTH_LIMIT_KB = 8 * 1024  # "a few MB"


@dataclass
class Row:
    attack: str
    answer: str
    orders: int
    rss_kb: tuple[int, int]
    redis_kb: tuple[int, int]
    ok: bool


class Stack:
    """A private Redis and the three roles, in one temporary folder."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis_port = free_port()
        self.web_port = free_port()
        self.redis_process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis = redis.Redis.from_url(self.url, socket_timeout=5)
        assert wait_until(self._pings, 10), "redis-server did not start"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "REDIS_URL": self.url,
            "BROKER": "sim", "FLASK_HOST": "127.0.0.1", "FLASK_PORT": str(self.web_port), "FLASK_SECRET_KEY": "attacks",
            "QMT_CLIENT_ACCOUNT": CLIENT_ID, "QMT_CLIENT_SECRET": CLIENT_SECRET, "TRADER_CONFIGS": json.dumps(ACCOUNTS),
            "VAR_DIR": str(workdir / "var"), "SIM_PRICES_FILE": sim_prices_file(workdir), "ADMIN_PASSWORD": "admin-pass", "TRADER_PASSWORD": "trader-pass",
            "LOG_LEVEL": "WARNING", "QMT_CLIENT_DEFAULT_WAIT": "0",  # each attack is judged by the door's answer, given at once
        }  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}
        for role in ("api", "worker", "scheduler"):
            with open(workdir / f"{role}.log", "wb") as log:
                self.processes[role] = subprocess.Popen([sys.executable, "-m", role], cwd=workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.http = SignedHttpClient(f"http://127.0.0.1:{self.web_port}")
        assert wait_until(self._ready, 60, 0.2), (workdir / "api.log").read_text()

    def _pings(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def _ready(self) -> bool:
        try:
            return self.http.get(f"{API}/health").body.get("ready") is True
        except OSError:
            return False

    def web_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.processes['api'].pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def redis_kb(self) -> int:
        return int(self.redis.info("memory")["used_memory"]) // 1024

    def broker_orders(self) -> int:
        """Orders the simulator holds today, over both accounts (through query jobs, as a client sees them)."""
        total = 0
        for index in (0, 1):
            answer = self.http.post(f"{API}/orders", {"trader_index": index, "cancelable_only": False})
            total += len(answer.body.get("orders", []))
        return total

    def close(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.redis.close()
        self.redis_process.terminate()
        self.redis_process.wait(10)


def raw_post(port: int, path: str, body: bytes, headers: dict[str, str], timeout: float = 20) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"error": raw[:80].decode(errors="replace")}


def signed_raw(stack: Stack, raw: str, parsed: Any) -> tuple[int, dict]:
    headers = {**signed_headers("POST", f"{API}/trade", parsed), "Content-Type": "application/json"}
    return raw_post(stack.web_port, f"{API}/trade", raw.encode(), headers)


def timed(call) -> tuple[float, Any]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


# -- the attacks -------------------------------------------------------------------------------
def lone_surrogate(stack: Stack) -> str:
    raw = json.dumps({**ORDER, "strategy_name": "s1"})[:-1] + ', "note": "\\ud800"}'
    status, body = signed_raw(stack, raw, json.loads(raw))
    return f"{status} {body.get('error', '')[:50]}"


def deep_unknown_field(stack: Stack) -> str:
    raw = json.dumps({**ORDER, "strategy_name": "s2"})[:-1] + ', "note": ' + "[" * 900 + "]" * 900 + "}"
    status, body = signed_raw(stack, raw, json.loads(raw))
    return f"{status} {body.get('error', '')[:50]}"


def huge_body(stack: Stack) -> str:
    """100 MB announced and sent as fast as the server takes it; the answer is read as soon as it comes."""
    size = 100 * 1024 * 1024
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", stack.web_port), timeout=20) as sock:
        sock.sendall(f"POST {API}/trade HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk, sent = b"9" * 65536, 0
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed: it read no more
        answer = sock.recv(200).decode(errors="replace")
    status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else "no answer"
    return f"{status} in {(time.monotonic() - started) * 1000:.0f} ms after {sent // 1024 // 1024} MB sent (100 MB announced)"


def malformed_login(stack: Stack) -> str:
    answers = []
    for body in (b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"username": "admin", "password": ' + b"9" * 5000 + b"}"):
        status, _ = raw_post(stack.web_port, "/login", body, {"Content-Type": "application/json"})
        answers.append(status)
    return f"{answers} (5000-deep, 5000 digits)"


def nan_timestamp(stack: Stack) -> str:
    headers = {**signed_headers("POST", f"{API}/trade", ORDER), "Content-Type": "application/json"}
    headers["X-Timestamp"] = "nan"
    status, body = raw_post(stack.web_port, f"{API}/trade", json.dumps(ORDER).encode(), headers)
    return f"{status} {body.get('error', '')[:50]}"


def enumerate_clients(stack: Stack) -> str:
    unknown = SignedHttpClient(stack.http.base_url, client_id="nobody", secret="x").post(f"{API}/trade", {**ORDER, "strategy_name": "e1"})
    wrong = SignedHttpClient(stack.http.base_url, secret="wrong").post(f"{API}/trade", {**ORDER, "strategy_name": "e2"})
    same = unknown.status == wrong.status == 401 and unknown.body["error"] == wrong.body["error"]
    return f"{unknown.status}/{wrong.status} {'same text' if same else 'DIFFERENT texts'}"


def lax_types(stack: Stack) -> str:
    answers = [stack.http.post(f"{API}/trade", {**ORDER, **change, "strategy_name": f"l{i}"}).status
               for i, change in enumerate(({"trader_index": True}, {"price": True}, {"volume": "100"}))]  # fmt: skip
    return f"{answers}"


def sign_and_side(stack: Stack) -> str:
    answer = stack.http.post(f"{API}/trade", {"symbol": "600000", "trade_price": 10.0, "position_pct": -0.1, "order_type": 23})
    return f"{answer.status} {answer.body.get('error', '')[:50]}"


def frozen_redis(stack: Stack) -> str:
    stack.redis_process.send_signal(signal.SIGSTOP)
    try:
        first_seconds, first = timed(lambda: stack.http.request("POST", f"{API}/trade", {**ORDER, "strategy_name": "frozen"}))
        retry = stack.http.request("POST", f"{API}/trade", {**ORDER, "strategy_name": "frozen"})  # a retry, new timestamp, no key
    finally:
        stack.redis_process.send_signal(signal.SIGCONT)
    return f"{first.status} in {first_seconds:.1f} s, retry {retry.status}"


def long_polls(stack: Stack) -> str:
    job = stack.http.post(f"{API}/trade", {**ORDER, "price": 9.0, "strategy_name": "resting"}).body["job_id"]
    stop = threading.Event()

    def poll() -> None:
        try:
            stack.http.get(f"{API}/jobs/{job}", query="wait=30")
        except OSError:
            pass

    pollers = [threading.Thread(target=poll) for _ in range(40)]
    for thread in pollers:
        thread.start()
    time.sleep(0.5)  # let the polls take their threads (the attack, not a wait for a result)
    seconds, health = timed(lambda: stack.http.get(f"{API}/health"))
    stop.set()
    for thread in pollers:
        thread.join(35)
    return f"/health {health.status} in {seconds * 1000:.0f} ms behind 40 x ?wait=30"


def slow_sockets(stack: Stack) -> str:
    sockets = []
    for _ in range(120):
        held = socket.create_connection(("127.0.0.1", stack.web_port), timeout=5)
        held.sendall(b"POST /qmt/trade/api/trade HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        sockets.append(held)
    try:
        seconds, answer = timed(lambda: stack.http.post(f"{API}/trade", {**ORDER, "strategy_name": "behind-slow"}))
    finally:
        for held in sockets:
            held.close()
    return f"signed order {answer.status} in {seconds * 1000:.0f} ms behind 120 half-sent requests"


def query_ttl(stack: Stack) -> str:
    stack.http.post(f"{API}/orders", {"trader_index": 0, "cancelable_only": False})
    ttls = [stack.redis.ttl(key) for key in stack.redis.scan_iter("rq:job:q*") if len(key.decode().split(":")) == 3]
    return f"query job TTL <= {max(ttls) if ttls else 0} s"


def login_lockout(stack: Stack) -> str:
    def login(user: str, password: str) -> tuple[int, str]:
        status, body = raw_post(
            stack.web_port, "/login", json.dumps({"username": user, "password": password}).encode(), {"Content-Type": "application/json"}
        )
        return status, body.get("error", "")

    answers = [login("admin", "wrong")[0] for _ in range(11)]
    trader = login("trader", "trader-pass")[0]
    return f"admin wrong x11 -> {answers[-2]}, {answers[-1]}; trader right -> {trader}"


def logout_replay(stack: Stack) -> str:
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{stack.web_port}"
    login = urllib.request.Request(base + "/login", data=b'{"username": "trader", "password": "trader-pass"}', method="POST",
                                   headers={"Content-Type": "application/json"})  # fmt: skip
    opener.open(login, timeout=10).read()
    saved = "; ".join(f"{c.name}={c.value}" for c in jar)
    opener.open(base + "/logout", timeout=10).read()
    try:
        with urllib.request.urlopen(urllib.request.Request(base + f"{API}/accounts", headers={"Cookie": saved}), timeout=10) as answer:
            return f"old cookie after logout -> {answer.status}"
    except urllib.error.HTTPError as error:
        return f"old cookie after logout -> {error.code}"


def fat_finger(stack: Stack) -> str:
    accepted = stack.http.post(f"{API}/trade", {**ORDER, "price": 11.9, "strategy_name": "fat-finger"})  # 19% over the 10.00 quote
    job = stack.http.get(f"{API}/jobs/{accepted.body['job_id']}", query="wait=10").body
    return f"{accepted.status}, job {job['status']}: {(job.get('error') or '')[:40]}"


ATTACKS = [
    ("1 lone surrogate in an unknown field", lone_surrogate),
    ("1 900-deep value in an unknown field", deep_unknown_field),
    ("2 frozen Redis, then a retry", frozen_redis),
    ("3 100 MB body", huge_body),
    ("4 40 long polls", long_polls),
    ("4 120 slow sockets", slow_sockets),
    ("5 query result kept", query_ttl),
    ("6 malformed JSON login", malformed_login),
    ("7 X-Timestamp: nan", nan_timestamp),
    ("8 unknown client vs wrong secret", enumerate_clients),
    ("9 booleans and numbers in strings", lax_types),
    ("10 negative position_pct with a buy", sign_and_side),
    ("11 ten wrong admin passwords", login_lockout),
    ("12 a logged-out cookie replayed", logout_replay),
    ("15 limit buy 19% over the quote", fat_finger),
]
# 13 (two terminals' books) and 14 (a cancel-all's cancels counted) need the simulator's files and the
# risk caps: tests/hardening/test_orders_and_risk.py replays them.


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="router-attacks-"))
    stack = Stack(workdir)
    rows: list[Row] = []
    try:
        for name, attack in ATTACKS:
            orders_before, rss_before, redis_before = stack.broker_orders(), stack.web_rss_kb(), stack.redis_kb()
            answer = attack(stack)
            assert wait_until(lambda: stack.http.get(f"{API}/health").body.get("queues", {}).get("order", 1) == 0, 30, 0.2)
            placed = stack.broker_orders() - orders_before
            rss_after, redis_after = stack.web_rss_kb(), stack.redis_kb()
            doubled = placed > 1
            server_error = any(code != "503" for code in re.findall(r"(?<!\d)(5\d\d)(?!\d)", answer))
            grew = rss_after - rss_before > GROWTH_LIMIT_KB or redis_after - redis_before > GROWTH_LIMIT_KB
            rows.append(Row(name, answer, placed, (rss_before, rss_after), (redis_before, redis_after), not (doubled or server_error or grew)))
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'attack':40} | {'answer':62} | orders | web RSS MB    | Redis MB    | ok")
    print("-" * 150)
    for row in rows:
        rss = f"{row.rss_kb[0] / 1024:5.1f}->{row.rss_kb[1] / 1024:5.1f}"
        mem = f"{row.redis_kb[0] / 1024:4.1f}->{row.redis_kb[1] / 1024:4.1f}"
        print(f"{row.attack:40} | {row.answer[:62]:62} | {row.orders:6} | {rss:13} | {mem:11} | {'yes' if row.ok else 'NO'}")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
