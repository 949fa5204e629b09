"""Redis Sentinel under load: the three roles as real processes on a master, its replicas and three sentinels of their own
(tests/chaos/sentinel_stack.py), orders at a steady rate from several threads, and one of two faults:

- `master_killed`: the master SIGKILLed; started again from its files once the sentinels have promoted a replica (as a
  service manager restarts it), it must rejoin as a replica. Measured: the failover (kill to the sentinels naming
  another master), the router taking work again (the first 202 to an order sent after the kill, the first order the
  worker sends after it), the old master's rejoining;
- `replica_stopped`: the replica SIGKILLed, then started again: meanwhile each order is answered "outcome unknown" with
  its job id within REDIS_WAIT_MS, never a 202, queries still answer and the status page never calls the worker silent.

Then, either way: every order that got a 202 is definite (tests/chaos/outcomes.py), every "outcome unknown" ended or
is gone (and then not at the broker), none is at the broker twice, no order is at the broker that no answer named, and
no role exited. `python run.py chaos --failover` runs the master killed with one replica and with two, then the replica
stopped; tests/integration/test_sentinel_failover.py is the suite's shorter check (one replica).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos import outcomes
from tests.chaos.run_chaos import AFTERNOON
from tests.chaos.sentinel_stack import DOWN_AFTER_MS, SentinelStack
from tests.chaos.stack import ADMIN
from tests.support import SignedHttpClient, wait_until

API = "/qmt/trade/api"
SENDERS = 4  # threads sending the orders at their due times, so a slow answer never delays the next order
WAIT_MS = 500  # REDIS_WAIT_MS: the default
JOB_IDS = re.compile(r"\b[oc][0-9a-f]{16}\b")


@dataclass
class Answer:
    at: float  # unix time the order was sent
    took: float  # seconds until its answer
    status: int
    job_id: str | None
    error: str


@dataclass
class Load:
    """Orders at `rate` a second, alternating the two accounts, until stopped."""

    http: SignedHttpClient
    rate: float
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    paused: threading.Event = field(default_factory=threading.Event)  # set: no orders sent (and none owed after)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._send, args=(lane,), daemon=True) for lane in range(SENDERS)]
        for thread in threads:
            thread.start()
        return threads

    def _send(self, lane: int) -> None:
        began, index = time.monotonic(), lane
        while not self.stop.is_set():
            if self.paused.is_set():
                while self.paused.is_set() and not self.stop.is_set():
                    self.stop.wait(0.05)
                began = time.monotonic() - index / self.rate  # the orders of the pause are not owed: no burst after it
            index += SENDERS
            self.stop.wait(max(0.0, began + index / self.rate - time.monotonic()))
            body = {"trader_index": index % 2, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23,
                    "strategy_name": f"failover-{lane}-{index}"}  # fmt: skip
            at = time.time()
            try:
                answer = self.http.post(f"{API}/trade", body)
                status, job_id, error = answer.status, answer.body.get("job_id"), str(answer.body.get("error", ""))
            except OSError as failure:
                status, job_id, error = 0, None, str(failure)
            with self.lock:
                self.answers.append(Answer(at, time.time() - at, status, job_id, error))

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= moment]


class FailoverStack:
    """A SentinelStack with `replicas` replicas and the three roles on it, ready, with the load's own rate caps."""

    def __init__(self, folder: Path, replicas: int):
        self.stack = SentinelStack(folder, AFTERNOON.timestamp() - time.time(), wait_ms=WAIT_MS, replicas=replicas, lease_seconds=5, call_timeout=3.0)
        self.http = SignedHttpClient(self.stack.base_url)

    def start(self) -> None:
        self.stack.start_redis()
        for role in ("api", "worker", "scheduler"):
            self.stack.start_role(role)
        if not wait_until(lambda: self.health().get("ready") is True, 60, 0.2):
            raise RuntimeError(f"the router did not become ready; logs in {self.stack.folder}")
        admin = SignedHttpClient(self.stack.base_url, client_id=ADMIN["client_id"], secret=ADMIN["secret"])
        answer = admin.request("PUT", f"{API}/risk", {"max_actions_per_second": 200, "max_actions_per_day": 100_000})  # the load's caps
        if answer.status != 200:
            raise RuntimeError(f"the admin could not set the load's limits: {answer.status} {answer.body}")

    def stop(self) -> None:
        self.stack.stop()

    def exited(self) -> list[str]:
        self.stack.supervise()
        return list(self.stack.unexpected)

    def health(self) -> dict[str, Any]:
        try:
            return self.http.get(f"{API}/health").body
        except OSError:
            return {}

    def worker_log(self) -> str:
        return (self.stack.folder / "worker.log").read_text(errors="replace")

    def rejoined(self, port: int, master: int) -> bool:
        """Is the server on `port` a replica of `master` in sync (its link up), and does `master` stream to all its replicas?"""
        return self.stack.in_sync(port, master) and self.stack.replicas_of(master) == len(self.stack.replica_ports)


def _check(stack: FailoverStack, load: Load, figures: dict[str, Any]) -> tuple[list[str], dict[str, dict]]:
    """Every 202 definite, none doubled, no order at the broker that no answer named, no role exited; figures filled in.
    Returns the problems and the accepted jobs' views."""
    problems: list[str] = []
    accepted = [a.job_id for a in load.answers if a.status == 202 and a.job_id]
    named = {a.job_id for a in load.answers if a.job_id}
    views = outcomes.settle(stack.http, accepted, 120)
    indefinite = outcomes.indefinite(accepted, views)
    tags = outcomes.broker_tags(stack.http)
    # an "outcome unknown" names its job: it ends definite too, or it is gone (lost with the old master) and never sent
    unknown = [a.job_id for a in load.answers if a.status == 503 and a.job_id]
    gone: set[str] = set()
    unknown_views = outcomes.settle(stack.http, unknown, 60, gone)
    open_unknown = [j for j in outcomes.indefinite(unknown, unknown_views) if j not in gone]
    figures["unknown_answers_ended"] = _outcomes(unknown_views)
    figures["unknown_answers_gone"] = len(gone)
    if open_unknown:
        problems.append(f"{len(open_unknown)} order(s) answered 'outcome unknown' neither ended nor gone, e.g. {open_unknown[:3]}")
    if gone & set(tags):
        problems.append(f"order(s) answered 'outcome unknown' then lost by Redis are at the broker: {sorted(gone & set(tags))[:3]}")
    doubled = sorted(tag for tag, count in tags.items() if count > 1)
    unnamed = sorted(set(tags) - named)
    statuses = _count(load.answers)
    figures.update(orders=len(load.answers), accepted=len(accepted), answers=statuses, outcomes=_outcomes(views),
                   at_the_broker=len(tags), doubled=len(doubled), indefinite=len(indefinite))  # fmt: skip
    if indefinite:
        problems.append(f"{len(indefinite)} order(s) answered 202 are not definite, e.g. {indefinite[:3]}")
    if doubled:
        problems.append(f"{len(doubled)} order(s) at the broker twice: {doubled[:3]}")
    if unnamed:
        problems.append(f"{len(unnamed)} order(s) at the broker that no answer named: {unnamed[:3]}")
    problems += stack.exited()
    return problems, views


def master_killed(folder: Path, replicas: int, rate: float = 20.0, before: float = 3.0, after: float = 3.0) -> tuple[dict[str, Any], list[str]]:
    """Orders at `rate`; `before` s in the master SIGKILLed. Once the sentinels named another master the old one is started
    again from its files (with one replica at once: the router takes work again only when it is back; with more, once the
    router took work again, which its rejoining must not disturb) and must rejoin as a replica; then `after` s more of
    orders. Returns (figures, problems)."""
    stack = FailoverStack(folder, replicas)
    figures: dict[str, Any] = {"replicas": replicas, "rate": rate, "down_after_ms": DOWN_AFTER_MS, "wait_ms": WAIT_MS}
    problems: list[str] = []
    try:
        stack.start()
        load = Load(stack.http, rate)
        threads = load.start()
        _answered(load, time.time(), int(rate * before))  # orders flow before the fault
        old = stack.stack.master_named()
        assert old is not None
        killed = time.time()
        stack.stack.kill_server(old)
        if not wait_until(lambda: stack.stack.master_named() not in (None, old), 60, 0.02):
            raise RuntimeError(f"no failover; logs in {stack.stack.folder}")
        new = stack.stack.master_named() or 0
        figures["failover_s"] = round(time.time() - killed, 3)
        if replicas > 1:  # a replica is left to confirm: the router takes work again without the old master
            figures["intake_again_s"] = _first_accepted(load, killed, 60)
        restarted = time.time()
        stack.stack.start_server(old)  # as a service manager restarts it: from its own files, as the master it was
        if not wait_until(lambda: stack.rejoined(old, new), 90, 0.05):
            raise RuntimeError(f"the old master did not rejoin; logs in {stack.stack.folder}")
        figures["old_master_rejoined_s"] = round(time.time() - restarted, 3)
        rejoined = time.time()
        if replicas == 1:  # no replica confirmed anything until the old master was back as one
            figures["intake_again_s"] = _first_accepted(load, killed, 60)
        _answered(load, rejoined, int(rate * after))
        load.stop.set()
        for thread in threads:
            thread.join(30)
        while_rejoining = [a for a in load.answers if restarted <= a.at and a.at + a.took <= rejoined]
        figures["answers_while_rejoining"] = _count(while_rejoining)
        if replicas > 1 and any(a.status != 202 for a in while_rejoining):
            problems.append(f"orders not accepted while the old master rejoined: {_count(while_rejoining)}")
        failovers = stack.worker_log().count("a failover or a restart")
        figures["worker_failovers_seen"] = failovers
        if failovers != 1:
            problems.append(f"the worker saw {failovers} failovers, not 1 (the old master's rejoining must go unnoticed)")
        health = stack.health().get("redis", {})
        figures["health_after"] = health
        if health.get("master") != f"127.0.0.1:{new}" or not health.get("replica_confirms"):
            problems.append(f"/health does not name the new master 127.0.0.1:{new} confirming writes: {health}")
        figures["intake_p50_s_before"] = _p50([a.took for a in load.answers if a.at < killed and a.status == 202])
        checked, views = _check(stack, load, figures)
        problems += checked
        sent = [v["result"]["submitted_at"] for v in views.values() if (v["result"].get("submitted_at") or 0) > killed]
        figures["sends_again_s"] = round(min(sent) - killed, 3) if sent else None
    finally:
        stack.stop()
    return figures, problems


def replica_stopped(folder: Path, rate: float = 20.0, before: float = 2.0, down: float = 3.0, after: float = 3.0) -> tuple[dict[str, Any], list[str]]:
    """Orders at `rate`; `before` s in the replica SIGKILLed for `down` s, then started again; `after` s more. Meanwhile
    every order is answered 503 "outcome unknown" naming its job within REDIS_WAIT_MS (and the request's own time),
    never 202, while queries answer and the status page never calls the worker silent. Returns (figures, problems)."""
    stack = FailoverStack(folder, replicas=1)
    figures: dict[str, Any] = {"replicas": 1, "rate": rate, "wait_ms": WAIT_MS}
    problems: list[str] = []
    try:
        stack.start()
        load = Load(stack.http, rate)
        threads = load.start()
        _answered(load, time.time(), int(rate * before))
        [replica] = stack.stack.replica_ports
        stack.stack.kill_server(replica)
        stopped = time.time()
        beats = _HeartbeatWatch(stack).start()  # the status page's view of the worker while no replica confirms
        _answered(load, stopped, int(rate * down))  # the outage lasts that many orders
        health = stack.health()
        figures["health_while_down"] = health.get("redis")
        if health.get("redis", {}).get("replica_confirms") is not False:
            problems.append(f"/health did not say that no replica confirms writes: {health.get('redis')}")
        # a query changes nothing and needs no replica; it waits behind the orders, which each wait for their intake's
        # verdict (worker.fence): asked once they stop coming, it is answered
        load.paused.set()
        query = stack.http.get(f"{API}/portfolio/0")
        figures["query_while_down"] = query.status
        if query.status != 200:
            problems.append(f"a query while the replica was down answered {query.status}: {query.body}")
        beats.stop.set()
        figures["worker_silent_while_down"] = beats.silent
        figures["longest_beat_gap_while_down_s"] = beats.longest
        if beats.silent:
            problems.append(f"the status page called the worker silent {beats.silent} time(s) while the replica was down")
        restarted = time.time()
        master = stack.stack.master_named() or stack.stack.master_port
        stack.stack.start_server(replica, replica_of=master)
        if not wait_until(lambda: stack.rejoined(replica, master), 60, 0.02):
            raise RuntimeError(f"the replica did not come back; logs in {stack.stack.folder}")
        figures["replica_back_s"] = round(time.time() - restarted, 3)
        load.paused.clear()
        _answered(load, time.time(), int(rate * after))
        load.stop.set()
        for thread in threads:
            thread.join(30)
        # answers to orders sent while no replica could confirm (from a moment after the kill: the master must notice)
        outage = [a for a in load.answers if stopped + 0.2 <= a.at and a.at + a.took <= restarted]
        figures["answers_while_down"] = _count(outage)
        figures["slowest_answer_while_down_s"] = round(max((a.took for a in outage), default=0.0), 3)
        wrong = [a for a in outage if a.status != 503 or not a.job_id or "unknown" not in a.error]
        if not outage or wrong:
            problems.append(f"{len(wrong)} of {len(outage)} answers while the replica was down were not 503 'unknown' with the job id: {wrong[:2]}")
        slow = [a for a in outage if a.took > WAIT_MS / 1000 + 0.5]
        if slow:
            problems.append(f"{len(slow)} answers while the replica was down took longer than REDIS_WAIT_MS + 0.5 s: {slow[:2]}")
        figures["intake_again_s"] = _first_accepted(load, restarted, 1)
        problems += _check(stack, load, figures)[0]
    finally:
        stack.stop()
    return figures, problems


class _HeartbeatWatch(threading.Thread):
    """Asks /health every 0.2 s, as the status page does: how often it calls the worker silent, and its longest silence."""

    def __init__(self, stack: FailoverStack):
        super().__init__(daemon=True)
        self.stack = stack
        self.stop = threading.Event()
        self.silent = 0
        self.longest = 0.0

    def start(self) -> _HeartbeatWatch:
        super().start()
        return self

    def run(self) -> None:
        while not self.stop.wait(0.2):
            worker = self.stack.health().get("worker") or {}
            self.silent += bool(worker.get("silent"))
            self.longest = max(self.longest, float(worker.get("silent_for") or 0.0))


def _answered(load: Load, since: float, count: int) -> None:
    """Wait until `count` orders sent since `since` have their answers (the load runs meanwhile)."""
    wait_until(lambda: len(load.since(since)) >= count, 10 + 3 * count / load.rate, 0.05)


def _first_accepted(load: Load, since: float, timeout: float) -> float | None:
    """Seconds from `since` until the first 202 to an order sent after it was answered (waiting up to `timeout`)."""

    def accepted() -> list[Answer]:
        return [a for a in load.since(since) if a.status == 202]

    wait_until(lambda: bool(accepted()), timeout, 0.05)
    found = accepted()
    return round(min(a.at + a.took for a in found) - since, 3) if found else None


def _outcomes(views: dict[str, dict]) -> dict[str, int]:
    """How many jobs ended with each outcome (submitted, not_submitted, expired, ...)."""
    found: dict[str, int] = {}
    for view in views.values():
        outcome = str(view["result"].get("outcome", "?"))
        found[outcome] = found.get(outcome, 0) + 1
    return found


def _count(answers: list[Answer]) -> dict[str, int]:
    """How many answers of each kind: status and the error's first words, job ids left out."""
    found: dict[str, int] = {}
    for answer in answers:
        key = f"{answer.status} {JOB_IDS.sub('<job>', answer.error)[:56]}".strip()
        found[key] = found.get(key, 0) + 1
    return found


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def main(argv: list[str]) -> int:
    """`python run.py chaos --failover`: the master killed with one replica and with two, then the replica stopped."""
    import argparse
    import tempfile

    from common.config.settings import get_settings

    parser = argparse.ArgumentParser(prog="python run.py chaos --failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--failover", action="store_true")
    parser.add_argument("--rate", type=float, default=20.0, help="orders a second (default 20)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of orders before the fault and after it (default 20)")
    args = parser.parse_args(argv)
    runs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for replicas in (1, 2):
        folder = Path(tempfile.mkdtemp(prefix=f"router-failover-{replicas}-"))
        print(f"failover: master killed, {replicas} replica(s) (logs in {folder})", flush=True)
        runs[f"master killed, {replicas} replica(s)"] = master_killed(folder, replicas, args.rate, args.seconds, args.seconds)
    folder = Path(tempfile.mkdtemp(prefix="router-failover-replica-"))
    print(f"failover: replica stopped (logs in {folder})", flush=True)
    runs["replica stopped"] = replica_stopped(folder, args.rate, args.seconds, args.seconds / 2, args.seconds)
    report = {name: {"figures": figures, "problems": problems} for name, (figures, problems) in runs.items()}
    out = Path(get_settings().VAR_DIR) / "chaos"
    out.mkdir(parents=True, exist_ok=True)
    (out / "failover.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps(report, indent=2, default=str))
    failed = sum(len(problems) for _, problems in runs.values())
    print("failover: " + ("every check holds" if not failed else f"{failed} check(s) failed"), f"(report in {out / 'failover.json'})")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
