"""python run.py chaos [--minutes M] [--rate R] [--quick]: orders at R a second for M minutes (default 10 at 20/s) through
the real roles while Redis is SIGKILLed and restarted from its AOF twice, the worker SIGKILLed three times, the broker
made to raise and to hang, and 200 readers poll; then Redis restarted empty.

At the end every order that got a 202 must be definite (an outcome, `unknown` only with its tag), none at the broker
twice, each owner told its end once; /health and intake under 1 s at p99 throughout; at least 99% of the orders sent
while Redis was up accepted; no role exited but those the driver killed. With Redis back empty: no role exits, new
orders are refused saying Redis lost its data, cancels and queries answer, and after an admin sets the limits and
releases the kill switch orders are accepted again. Exit status 0 only when every check holds; the report (JSON and a
table) goes to VAR_DIR/chaos/.

python run.py chaos --failover [--rate R] [--seconds S]: Redis Sentinel instead (tests/chaos/failover.py).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from common.config.clock import SHANGHAI
from common.config.settings import get_settings
from tests.chaos import outcomes
from tests.chaos.stack import ADMIN, Stack
from tests.support import SignedHttpClient, signed_headers, wait_until

API = "/qmt/trade/api"
AFTERNOON = datetime(2026, 12, 1, 13, 0, 0, tzinfo=SHANGHAI)  # a Tuesday, in continuous trading for the whole run
ENDS = {"not_submitted", "expired", "unknown", "rejected"}
FINAL_STATUSES = {"filled", "cancelled", "part_cancelled", "rejected"}
READER_PAUSE_SECONDS = 2.0  # each reader polls every 2 s, as an open status page does: 200 of them ask ~100 times a second
SENDERS = 8  # threads sending the orders at their due times, so a slow answer never delays the next order


class Record:
    """What the driver saw, shared by its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: list[dict[str, Any]] = []  # sent: when, status, job id, whether Redis was up
        self.health: list[tuple[float, float]] = []  # (when, seconds)
        self.faults: list[tuple[float, str]] = []
        self.redis_up = True
        self.stop = threading.Event()

    def add(self, name: str, item: Any) -> None:
        with self.lock:
            getattr(self, name).append(item)


def _post(base: str, path: str, body: dict, client: dict | None = None, timeout: float = 10) -> tuple[int, dict, float]:
    client = client or {}
    headers = signed_headers("POST", path, body, **({"client_id": client["client_id"], "secret": client["secret"]} if client else {}))
    headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}"), time.monotonic() - began
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), time.monotonic() - began
    except OSError as error:
        return 0, {"error": str(error)}, time.monotonic() - began


def _sender(stack: Stack, record: Record, rate: float, until: float, first: int = 0) -> None:
    """One of SENDERS threads: orders number first, first + SENDERS, ... each at its due time (open loop)."""
    start, index = time.monotonic(), first
    while time.monotonic() < until and not record.stop.is_set():
        index += SENDERS
        time.sleep(max(0.0, start + index / rate - time.monotonic()))
        resting = index % 5 == 0  # one in five rests below the price (cancelled later); the rest fill
        body = {"trader_index": index % 2, "symbol": "600000.SH", "volume": 100, "price": 9.6 if resting else 10.0, "order_type": 23,
                "strategy_name": f"chaos-{index}"}  # fmt: skip
        status, answer, took = _post(stack.base_url, f"{API}/trade", body)
        record.add("orders", {"at": time.time(), "status": status, "job_id": answer.get("job_id"), "took": took, "redis_up": record.redis_up,
                              "error": answer.get("error", "")})  # fmt: skip


def _reader(stack: Stack, record: Record, number: int) -> None:
    """One of the 200 readers, from 127.0.0.2 (another address: the per-address socket cap is theirs, not the traders')."""
    paths = [f"{API}/portfolio/{number % 2}", f"{API}/events?after=0-0&limit=50", f"{API}/jobs"]
    while not record.stop.is_set():
        path = paths[number % len(paths)]
        route, _, query = path.partition("?")
        headers = signed_headers("GET", route, None, query=query)
        connection = None
        try:
            connection = socket.create_connection(("127.0.0.1", stack.web_port), timeout=10, source_address=("127.0.0.2", 0))
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            )
            connection.sendall(request.encode())
            while connection.recv(65536):
                pass
        except OSError:
            pass
        finally:
            if connection is not None:
                connection.close()
        record.stop.wait(READER_PAUSE_SECONDS)


def _prober(stack: Stack, record: Record) -> None:
    while not record.stop.is_set():
        began = time.monotonic()
        try:
            urllib.request.urlopen(f"{stack.base_url}{API}/health", timeout=10).close()
        except urllib.error.HTTPError:
            pass
        except OSError:
            pass
        if record.redis_up:
            record.add("health", (time.time(), time.monotonic() - began))
        record.stop.wait(0.2)


def _fault_plan(minutes: float, lease: int) -> list[tuple[float, str]]:
    """(fraction of the run, fault): Redis twice (once past the lease), the worker three times, the broker raising and hanging."""
    return [(0.10, "kill worker"), (0.20, "redis down 3 s"), (0.30, "broker raises after the send"), (0.40, "kill worker"),
            (0.50, f"redis down {lease + 3} s"), (0.60, "broker raises before the send"), (0.70, "broker hangs"), (0.80, "kill worker")]  # fmt: skip


def _inject(stack: Stack, record: Record, fault: str) -> None:
    record.add("faults", (time.time(), fault))
    print(f"chaos: {time.strftime('%H:%M:%S')} {fault}", flush=True)
    if fault == "kill worker":
        stack.kill_role("worker")
    elif fault.startswith("redis down"):
        seconds = float(fault.split()[2])
        record.redis_up = False
        stack.kill_redis()
        time.sleep(seconds)  # the outage is the fault itself
        stack.start_redis()
        record.redis_up = True
    elif fault == "broker raises after the send":
        stack.broker_fault(raise_after_until=time.time() + 10)
    elif fault == "broker raises before the send":
        stack.broker_fault(raise_before_until=time.time() + 10)
    elif fault == "broker hangs":
        stack.broker_fault(hang_until=time.time() + 10, hang_seconds=5)


def _check(stack: Stack, record: Record, http: SignedHttpClient) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    accepted = [o["job_id"] for o in record.orders if o["status"] == 202 and o["job_id"]]
    views = outcomes.settle(http, accepted, 180)
    indefinite = outcomes.indefinite(accepted, views)
    if indefinite:
        problems.append(f"{len(indefinite)} accepted order(s) not definite, e.g. {indefinite[:5]}")
    tags = outcomes.broker_tags(http)
    doubled = [t for t, n in tags.items() if n > 1]
    if doubled:
        problems.append(f"{len(doubled)} order(s) at the broker twice: {doubled[:5]}")
    # what the owner heard of each job's end: the job's own closing stage, and the order's final state at the broker
    closed: dict[str, list[str]] = {}
    final: dict[str, list[str]] = {}
    cursor = "0-0"
    while True:
        page = http.get(f"{API}/events", query=f"after={cursor}&limit=1000").body
        for event in page.get("events", []):
            if event.get("job_id") in views:
                if event["kind"] == "job" and event.get("stage") in ENDS:
                    closed.setdefault(event["job_id"], []).append(event["stage"])
                elif event["kind"] == "order" and event.get("status") in FINAL_STATUSES:
                    final.setdefault(event["job_id"], []).append(event["status"])
        if not page.get("events"):
            break
        cursor = page["next"]
    told = {j: closed.get(j, []) + final.get(j, []) for j in set(closed) | set(final)}

    def twice_told(job_id: str) -> bool:
        """A closing stage or a final state told twice, or two that disagree (unknown, then filled). A rejection is told
        as the job's stage and as the order's state: one end in two events, which DingTalk tells once (job, state)."""
        stages, states = closed.get(job_id, []), final.get(job_id, [])
        return len(stages) > 1 or len(states) > 1 or bool(stages and states and set(stages) != set(states))

    twice = [j for j in told if twice_told(j)]
    if twice:
        problems.append(f"{len(twice)} job(s) whose end was told more than once, e.g. {[(j, told[j]) for j in twice[:3]]}")
    intake = sorted(o["took"] for o in record.orders if o["redis_up"] and o["status"] == 202)
    health = sorted(took for _, took in record.health)
    began = record.orders[0]["at"] if record.orders else 0.0
    figures = {
        "p99 intake s": _p99(intake),
        "p99 health s": _p99(health),
        "slowest health (s into the run, s)": [(round(at - began), round(took, 2)) for at, took in sorted(record.health, key=lambda h: -h[1])[:10]],
        "faults (s into the run)": [(round(at - began), fault) for at, fault in record.faults],
        "max intake s": max(intake, default=0),
        "max health s": max(health, default=0),
    }
    if figures["p99 intake s"] >= 1 or figures["p99 health s"] >= 1:
        problems.append(f"p99 over 1 s: intake {figures['p99 intake s']:.3f} s, health {figures['p99 health s']:.3f} s")
    while_up = [o for o in record.orders if o["redis_up"]]
    share = sum(1 for o in while_up if o["status"] == 202) / max(len(while_up), 1)
    figures.update(sent=len(record.orders), accepted=len(accepted), accepted_while_up=round(share, 4), doubled=len(doubled),
                   indefinite=len(indefinite), unexpected_exits=list(stack.unexpected),
                   refused=_refusals([o for o in while_up if o["status"] != 202]))  # fmt: skip
    if share < 0.99:
        problems.append(f"only {share:.2%} of the orders sent while Redis was up were accepted")
    if stack.unexpected:
        problems.append(f"roles exited unasked: {stack.unexpected}")
    return problems, figures


def _refusals(refused: list[dict]) -> dict[str, int]:
    found: dict[str, int] = {}
    for order in refused:
        key = f"{order['status']} {order['error'][:60]}"
        found[key] = found.get(key, 0) + 1
    return found


def _p99(values: list[float]) -> float:
    return round(values[min(len(values) - 1, int(len(values) * 0.99))], 3) if values else 0.0


def _empty_redis_phase(stack: Stack, http: SignedHttpClient) -> list[str]:
    problems: list[str] = []
    stack.kill_redis()
    stack.start_redis(empty=True)
    refused: dict = {}

    def halted() -> bool:
        nonlocal refused
        stack.supervise()
        status, refused, _ = _post(stack.base_url, f"{API}/trade", {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0,
                                                                  "order_type": 23, "strategy_name": f"empty-{time.monotonic()}"})  # fmt: skip
        return status == 423 and "Redis lost its data" in refused.get("error", "")

    if not wait_until(halted, 60, 1.0):
        problems.append(f"after Redis came back empty new orders were not refused saying why: {refused}")
    if http.get(f"{API}/portfolio/0").status != 200:
        problems.append("queries did not answer after Redis came back empty")
    reasons = http.get(f"{API}/health").body.get("reasons", [])
    if not any("Redis lost its data" in r for r in reasons):
        problems.append(f"/health did not say Redis lost its data: {reasons}")
    admin = SignedHttpClient(stack.base_url, client_id=ADMIN["client_id"], secret=ADMIN["secret"])
    admin.request("PUT", f"{API}/risk", {"max_order_notional": 1_000_000})
    admin.post(f"{API}/risk/kill_switch", {"on": False})
    status, answer, _ = _post(stack.base_url, f"{API}/trade", {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0,
                                                             "order_type": 23, "strategy_name": "confirmed"})  # fmt: skip
    if status != 202:
        problems.append(f"after the admin confirmed, an order was {status}: {answer}")
    stack.supervise()
    if stack.unexpected:
        problems.append(f"roles exited unasked after Redis came back empty: {stack.unexpected}")
    return problems


def main(argv: list[str]) -> int:
    if "--failover" in argv:  # Redis Sentinel: the master killed, the replica stopped (tests/chaos/failover.py)
        from tests.chaos.failover import main as failover

        return failover(argv)
    parser = argparse.ArgumentParser(prog="python run.py chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long orders flow (default 10)")
    parser.add_argument("--rate", type=float, default=20.0, help="orders a second (default 20)")
    parser.add_argument("--quick", action="store_true", help="2 minutes: a smoke check")
    args = parser.parse_args(argv)
    minutes = 2.0 if args.quick else args.minutes
    folder = Path(tempfile.mkdtemp(prefix="router-chaos-"))
    stack = Stack(folder, AFTERNOON.timestamp() - time.time())
    record = Record()
    stack.start_redis()
    for role in ("api", "worker", "scheduler"):
        stack.start_role(role)
    http = SignedHttpClient(stack.base_url)
    if not wait_until(lambda: _ready(http), 60, 0.5):
        stack.stop()
        raise SystemExit(f"chaos: the router did not become ready; logs in {folder}")
    # the load's own limits: the default caps (20 actions a second, 5,000 a day per account) are a trader's, not this load's
    admin = SignedHttpClient(stack.base_url, client_id=ADMIN["client_id"], secret=ADMIN["secret"])
    per_day = int(args.rate * minutes * 60) + 1_000
    answer = admin.request("PUT", f"{API}/risk", {"max_actions_per_second": 200, "max_actions_per_day": per_day})
    if answer.status != 200:
        stack.stop()
        raise SystemExit(f"chaos: the admin could not set the load's limits: {answer.status} {answer.body}")
    began = time.monotonic()
    until = began + minutes * 60
    threads = [threading.Thread(target=_sender, args=(stack, record, args.rate, until, n), daemon=True) for n in range(SENDERS)]
    threads.append(threading.Thread(target=_prober, args=(stack, record), daemon=True))
    threads += [threading.Thread(target=_reader, args=(stack, record, n), daemon=True) for n in range(200)]
    for thread in threads:
        thread.start()
    plan = [(began + fraction * minutes * 60, fault) for fraction, fault in _fault_plan(minutes, 5)]
    while time.monotonic() < until:
        if plan and time.monotonic() >= plan[0][0]:
            _inject(stack, record, plan.pop(0)[1])
        stack.supervise()
        if int(time.monotonic() - began) % 10 == 0:
            accepted = sum(1 for o in record.orders if o["status"] == 202)
            print(
                f"chaos: {time.monotonic() - began:5.0f} s, sent {len(record.orders)}, accepted {accepted}, faults {len(record.faults)}", flush=True
            )
        time.sleep(1)
    record.stop.set()
    stack.broker_fault()
    problems, figures = _check(stack, record, http)
    problems += _empty_redis_phase(stack, http)
    stack.stop()
    report = {"minutes": minutes, "rate": args.rate, "figures": figures, "faults": record.faults, "problems": problems, "logs": str(folder)}
    out = Path(get_settings().VAR_DIR) / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps({"figures": figures, "problems": problems}, indent=2, default=str))
    print(
        "chaos: " + ("every check holds" if not problems else f"{len(problems)} check(s) failed"),
        f"(report in {out / 'chaos.json'}, logs in {folder})",
    )
    return 0 if not problems else 1


def _ready(http: SignedHttpClient) -> bool:
    try:
        return http.get(f"{API}/health").body.get("ready") is True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
