"""`python run.py` as a process for the tests of the embedded run: started and stopped again with one VAR_DIR."""

from __future__ import annotations

import http.cookiejar
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.integration.conftest import ROOT
from tests.support import CLIENT_ID, CLIENT_SECRET, KEEP_BYTECODE_AWAY, SignedHttpClient, free_port, sim_prices_file, wait_until

API = "/qmt/trade/api"


class Embedded:
    """run.py as a process, started and stopped again with one VAR_DIR."""

    def __init__(self, tmp_path: Path, **env: str):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.env = {
            "PATH": "/usr/bin:/bin",
            **KEEP_BYTECODE_AWAY,
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": "",
            "BROKER": "sim",
            "TRADER_CONFIGS": "",
            "FLASK_PORT": str(self.port),
            "QMT_CLIENT_ACCOUNT": CLIENT_ID,
            "QMT_CLIENT_SECRET": CLIENT_SECRET,
            "QMT_CLIENT_DEFAULT_WAIT": "0",  # these tests queue orders and follow their jobs (test_embedded.py has the default)
            "ADMIN_PASSWORD": "embedded-admin-pw",
            "VAR_DIR": str(tmp_path / "var"),
            "SIM_PRICES_FILE": sim_prices_file(tmp_path),
            **env,
        }
        self.http = SignedHttpClient(f"http://127.0.0.1:{self.port}")
        self.process: subprocess.Popen | None = None
        self.runs = 0

    @property
    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.tmp_path.glob("run-*.log")))

    def start(self) -> None:
        self.runs += 1
        with open(self.tmp_path / f"run-{self.runs}.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py")], cwd=self.tmp_path, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        assert wait_until(self._ready, 60, 0.1), self.log

    def _ready(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log
        try:
            return self.http.get(f"{API}/health").body.get("ready") is True
        except OSError:
            return False

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(how)
        self.process.wait(30)

    def admin(self) -> urllib.request.OpenerDirector:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = urllib.request.Request(
            f"{self.http.base_url}/login", data=json.dumps({"username": "admin", "password": "embedded-admin-pw"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        opener.open(login, timeout=10).close()
        return opener

    def call(self, opener: urllib.request.OpenerDirector, method: str, path: str, body: object = None) -> dict:
        request = urllib.request.Request(
            self.http.base_url + path, data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"}, method=method,
        )  # fmt: skip
        with opener.open(request, timeout=20) as answer:
            return json.loads(answer.read())
