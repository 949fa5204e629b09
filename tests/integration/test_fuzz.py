"""Schemathesis fuzzes the running embedded server from its own /openapi.json: no 5xx, every answer as documented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def _login_cookie(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/login", data=b'{"username": "admin", "password": "fuzz-admin-pw"}', headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers["Set-Cookie"].split(";", 1)[0]


def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_undocumented_answer(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_URL": "",
        "BROKER": "sim",
        "FLASK_PORT": str(port),
        "ADMIN_PASSWORD": "fuzz-admin-pw",
        "TRADER_PASSWORD": "fuzz-trader-pw",
        "QMT_CLIENT_ACCOUNT": "fuzz",
        "QMT_CLIENT_SECRET": "fuzz-secret",
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            assert server.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{base}/qmt/trade/api/health", timeout=2) as answer:
                    return b'"ready":true' in answer.read()
            except OSError:
                return False

        assert wait_until(up, 60, 0.2), log_path.read_text()
        cookie = _login_cookie(base)
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--exclude-path",
                "/login",
                "--exclude-path",
                "/logout",  # it ends the session the fuzzer's cookie belongs to
                "-H",
                f"Cookie: {cookie}",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-4000:]
