"""The system under a chaos run: a private redis-server with AOF and the three roles as real processes, restarted when
they die (as a service manager would), with every exit the driver did not cause recorded.

The worker starts with a prelude that reads a control file before each send, so the driver can make the broker raise
(after placing the order, or before) or hang past BROKER_CALL_TIMEOUT for a while.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, free_port, sim_prices_file, wait_until

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"client_id": "chaos-admin", "secret": "chaos-admin-secret-0123456789", "scopes": ["trade", "cancel", "query", "admin"]}
BROKER_FAULTS = """
import json, os, time
from worker.sim.trader import SimTrader
def faulty_call(placed):
  def faulty(self, *args, **kwargs):
    try:
        with open(os.environ["CHAOS_CONTROL"], encoding="utf-8") as control:
            fault = json.load(control)
    except (OSError, ValueError):
        fault = {}
    now = time.time()
    if now < fault.get("raise_after_until", 0):
        placed(self, *args, **kwargs)
        raise OSError(28, "No space left on device")
    if now < fault.get("raise_before_until", 0):
        raise RuntimeError("xtquant internal error")
    if now < fault.get("hang_until", 0):
        time.sleep(fault.get("hang_seconds", 5))
    return placed(self, *args, **kwargs)
  return faulty
SimTrader.order_stock = faulty_call(SimTrader.order_stock)  # the worker sends with order_stock_async when BROKER_IN_FLIGHT > 1
SimTrader.order_stock_async = faulty_call(SimTrader.order_stock_async)
"""


class Stack:
    """Redis and the three roles, in a folder of their own."""

    def __init__(self, folder: Path, clock_offset: float, lease_seconds: int = 5, call_timeout: float = 3.0):
        self.folder = folder
        self.redis_port = free_port()
        self.web_port = free_port()
        self.redis_dir = folder / "redis"
        self.control = folder / "chaos-broker.json"
        self.redis_process: subprocess.Popen | None = None
        self.roles: dict[str, subprocess.Popen] = {}
        self.killed: set[int] = set()  # pids the driver killed on purpose
        self.unexpected: list[str] = []  # exits the driver did not cause
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "QMT_", "OUTER_", "TRADER_", "REDIS_", "SIM_", "BROKER"))},
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "BROKER": "sim",
            "FLASK_HOST": "127.0.0.1",
            "FLASK_PORT": str(self.web_port),
            "FLASK_SECRET_KEY": "chaos-flask-secret-0123456789",
            "QMT_CLIENT_ACCOUNT": CLIENT_ID,
            "QMT_CLIENT_SECRET": CLIENT_SECRET,
            "QMT_CLIENT_DEFAULT_WAIT": "0",
            "API_CLIENTS": json.dumps([ADMIN]),
            "TRADER_CONFIGS": json.dumps(ACCOUNTS),
            "VAR_DIR": str(folder / "var"),
            "SIM_PRICES_FILE": sim_prices_file(folder),
            "SIM_STARTING_CASH": "1000000000",  # 12,000 orders of 1,000 yuan fill: none is rejected for want of cash
            "CLOCK_OFFSET_SECONDS": str(clock_offset),
            "WORKER_LEASE_SECONDS": str(lease_seconds),
            "BROKER_CALL_TIMEOUT": str(call_timeout),
            "CHAOS_CONTROL": str(self.control),
            "LOG_LEVEL": "WARNING",
        }
        self.control.write_text("{}", encoding="utf-8")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # -- Redis --------------------------------------------------------------------------------
    def start_redis(self, empty: bool = False) -> None:
        if empty and self.redis_dir.exists():
            shutil.rmtree(self.redis_dir)
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("chaos: redis-server is needed (apt-get install redis-server)")
        command = [binary, str(ROOT / "deploy" / "redis.conf"), "--port", str(self.redis_port), "--dir", str(self.redis_dir)]
        self.redis_process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        if not wait_until(self.redis_answers, 15):
            raise SystemExit("chaos: the private redis-server did not start")

    def redis_answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.redis_port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill_redis(self) -> None:
        assert self.redis_process is not None
        self.redis_process.kill()
        self.redis_process.wait(10)

    # -- roles --------------------------------------------------------------------------------
    def start_role(self, role: str) -> None:
        log = open(self.folder / f"{role}.log", "ab")  # noqa: SIM115 - the child keeps its own copy
        try:
            if role == "worker":
                code = f"{BROKER_FAULTS}\nimport runpy, sys\nsys.argv = ['worker']\nrunpy.run_module('worker', run_name='__main__', alter_sys=True)"
                command = [sys.executable, "-c", code]
            else:
                command = [sys.executable, "-m", role]
            self.roles[role] = subprocess.Popen(command, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def kill_role(self, role: str) -> None:
        process = self.roles[role]
        self.killed.add(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.start_role(role)

    def supervise(self) -> None:
        """Start again any role that exited; note it when the driver did not kill it."""
        for role, process in list(self.roles.items()):
            code = process.poll()
            if code is None:
                continue
            if process.pid not in self.killed:
                self.unexpected.append(f"{role} exited with {code} at {time.strftime('%H:%M:%S')}")
            self.start_role(role)

    def broker_fault(self, **fault: float) -> None:
        self.control.write_text(json.dumps(fault), encoding="utf-8")

    def stop(self) -> None:
        for process in self.roles.values():
            if process.poll() is None:
                process.terminate()
        for process in self.roles.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.redis_process is not None and self.redis_process.poll() is None:
            self.kill_redis()
