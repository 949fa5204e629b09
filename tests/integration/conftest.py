"""Integration fixtures: the roles as real processes against the real Redis (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ACCOUNTS, CLIENT_ID, CLIENT_SECRET, SignedHttpClient, free_port, sim_prices_file, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Roles:
    """Starts `python -m api|worker|scheduler` (or run.py) as real processes with one environment."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env = env
        self.workdir = workdir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, role: str, *args: str, prelude: str | None = None, name: str | None = None) -> subprocess.Popen:
        """Start a role; `prelude` is Python run before the role's module (e.g. to remove os.fork); `name` tells
        two processes of one role apart (their key here and their log file; default: the role)."""
        name = name or role
        if prelude is None:
            command = [sys.executable, "-m", role, *args]
        else:
            command = [
                sys.executable,
                "-c",
                f"{prelude}\nimport runpy, sys\nsys.argv = [{role!r}, *{list(args)!r}]\nrunpy.run_module({role!r}, run_name='__main__', alter_sys=True)",
            ]
        with open(self.workdir / f"{name}.log", "wb") as log:  # the child keeps its own copy of the handle
            process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def log(self, role: str) -> str:
        return (self.workdir / f"{role}.log").read_text(errors="replace")

    def stop(self, role: str, timeout: float = 15) -> int:
        process = self.processes.pop(role)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        return process.returncode

    def stop_all(self) -> None:
        for role in list(self.processes):
            self.stop(role)


@pytest.fixture
def role_env(redis_url, real_redis, tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "QMT_", "OUTER_", "TRADER_", "REDIS_", "SIM_", "BROKER"))},
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": redis_url,
        "BROKER": "sim",
        "FLASK_HOST": "127.0.0.1",
        "FLASK_PORT": str(port),
        "FLASK_SECRET_KEY": "integration-secret",
        "QMT_CLIENT_ACCOUNT": CLIENT_ID,
        "QMT_CLIENT_SECRET": CLIENT_SECRET,
        "QMT_CLIENT_DEFAULT_WAIT": "0",  # this suite's client polls its jobs (test_old_sdks.py has the default wait)
        "LOGIN_CLIENT_DEFAULT_WAIT": "0",
        "TRADER_CONFIGS": str(ACCOUNTS),  # the old server's Python-literal form
        "VAR_DIR": str(tmp_path / "var"),
        "SIM_PRICES_FILE": sim_prices_file(tmp_path),
        "LOG_LEVEL": "INFO",
    }
    return env


@pytest.fixture
def roles(role_env, tmp_path):
    started = Roles(role_env, tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def http(role_env):
    return SignedHttpClient(f"http://127.0.0.1:{role_env['FLASK_PORT']}")


def wait_ready(http: SignedHttpClient, roles: Roles, timeout: float = 30) -> dict:
    """Wait until /health says the worker is alive and every account connected."""
    seen: dict = {}

    def ready() -> bool:
        nonlocal seen
        for role, process in roles.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{role} exited with {process.returncode}:\n{roles.log(role)}")
        try:
            answer = http.get("/qmt/trade/api/health")
        except OSError:
            return False
        seen = answer.body
        return answer.status == 200 and answer.body.get("ready") is True

    if not wait_until(ready, timeout, 0.1):
        logs = "\n".join(f"--- {role}\n{roles.log(role)}" for role in roles.processes)
        raise AssertionError(f"not ready after {timeout} s: {seen}\n{logs}")
    return seen
