"""The Procfile as a trader runs it: `honcho start` with a config of two QMT terminals (two accounts on two qmt_paths,
no `terminal` keys) serves both; the worker SIGKILLed and everything started again brings both back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.store import terminals
from tests.integration.conftest import ROOT
from tests.support import CLIENT_ID, CLIENT_SECRET, SignedHttpClient, free_port, make_settings, sim_prices_file, wait_until

pytestmark = pytest.mark.integration
TWO_TERMINALS = (
    "[{'account_id': 'SIM000001', 'nick_name': 'guojin', 'qmt_path': 'D:/国金证券QMT交易端/userdata_mini'},"
    " {'account_id': 'SIM000002', 'nick_name': 'huaxin', 'qmt_path': 'C:/迅投极速策略交易系统交易终端 华鑫证券QMT实盘/userdata_mini'}]"
)


def _children(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found += [int(entry.name), *_children(int(entry.name))]
    return found


def _args(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _honcho(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    log = open(workdir / "honcho.log", "ab")  # noqa: SIM115 - the child keeps its own copy of the handle
    try:
        return subprocess.Popen([sys.executable, "-m", "honcho", "start"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_honcho_start_with_two_terminals_serves_both_and_comes_back_after_a_sigkill(redis_url, real_redis, tmp_path):
    workdir = tmp_path / "deploy"
    workdir.mkdir()
    shutil.copy(ROOT / "Procfile", workdir / "Procfile")
    port = free_port()
    settings = {
        "REDIS_URL": redis_url,
        "BROKER": "sim",
        "FLASK_HOST": "127.0.0.1",
        "FLASK_PORT": str(port),
        "FLASK_SECRET_KEY": "procfile-secret",
        "QMT_CLIENT_ACCOUNT": CLIENT_ID,
        "QMT_CLIENT_SECRET": CLIENT_SECRET,
        "QMT_CLIENT_DEFAULT_WAIT": "0",  # the test follows each order's job (the default wait: test_old_sdks.py)
        "TRADER_CONFIGS": TWO_TERMINALS,
        "VAR_DIR": str(tmp_path / "var"),
        "SIM_PRICES_FILE": sim_prices_file(tmp_path),
    }
    (workdir / ".env").write_text("".join(f'{k}="{v}"\n' for k, v in settings.items()), encoding="utf-8")  # honcho reads it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "QMT_", "TRADER_", "REDIS_", "SIM_", "BROKER"))}
    env.update(
        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    )  # the venv activated
    names = [t.name for t in terminals.terminals(make_settings(TRADER_CONFIGS=TWO_TERMINALS))]
    assert names == ["国金证券QMT交易端", "迅投极速策略交易系统交易终端-华鑫证券QMT实盘"]  # words a person recognises
    http = SignedHttpClient(f"http://127.0.0.1:{port}")

    def both_filled(label: str) -> bool:
        for index in (0, 1):
            body = {"trader_index": index, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23, "strategy_name": f"{label}-{index}"}
            answer = http.post("/qmt/trade/api/trade", body)
            assert answer.status == 202, answer.body
            status_url = f"/qmt/trade/api/jobs/{answer.body['job_id']}"
            if not wait_until(lambda: (http.get(status_url, query="wait=5").body.get("result") or {}).get("status") == "filled", 15):  # noqa: B023
                return False
        return True

    def ready() -> bool:
        try:
            return http.get("/qmt/trade/api/health").body.get("ready") is True
        except OSError:
            return False

    honcho = _honcho(workdir, env)
    try:
        assert wait_until(ready, 60, 0.2), (workdir / "honcho.log").read_text()
        assert both_filled("first")
        [supervisor] = [pid for pid in _children(honcho.pid) if _args(pid)[1:3] == ["-m", "worker"] and "--terminal" not in _args(pid)]
        workers = _children(supervisor)
        assert len(workers) == 2, workers  # a process per terminal
        os.kill(supervisor, signal.SIGKILL)
        assert wait_until(lambda: honcho.poll() is not None, 60), "honcho did not stop when the worker died"
        assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 30), "a terminal's worker outlived its supervisor"
    finally:
        _stop(honcho)

    honcho = _honcho(workdir, env)  # the service manager, or the trader, starts it again
    try:
        assert wait_until(ready, 60, 0.2), (workdir / "honcho.log").read_text()
        assert wait_until(lambda: both_filled(f"again-{os.getpid()}"), 30)
    finally:
        _stop(honcho)
