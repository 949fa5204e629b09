"""The scheduler role starts, beats and stops cleanly, in-process and as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from common.store import keys
from scheduler.service import run
from tests.support import KEEP_BYTECODE_AWAY, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_run_beats_until_stopped(settings, fake_redis):
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, fake_redis, stop))
    thread.start()
    assert wait_until(lambda: fake_redis.hget(keys.SCHEDULER_HEARTBEAT, "ts") is not None, 5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.integration
def test_python_m_scheduler_idles_and_exits_cleanly_on_sigterm(redis_url, real_redis, tmp_path):
    env = {"PATH": "/usr/bin:/bin", **KEEP_BYTECODE_AWAY, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url}
    process = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: real_redis.hget(keys.SCHEDULER_HEARTBEAT, "pid") == str(process.pid).encode(), 15)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=15)[0].decode()
    assert process.returncode == 0, output
    assert "scheduler stopped" in output


def test_python_m_scheduler_refuses_to_start_without_redis_url(tmp_path):
    env = {"PATH": "/usr/bin:/bin", **KEEP_BYTECODE_AWAY, "PYTHONPATH": str(ROOT), "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-m", "scheduler"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "REDIS_URL is not set" in done.stderr
