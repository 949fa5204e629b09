"""The web role as a real process (waitress) behind a reverse proxy: login failures count per forwarded address."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.integration


def login(base: str, password: str, forwarded_for: str) -> int:
    request = urllib.request.Request(
        f"{base}/login",
        data=json.dumps({"username": "admin", "password": password}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_behind_a_trusted_proxy_the_web_role_counts_failures_per_forwarded_address(roles, role_env):
    role_env.update(ADMIN_PASSWORD="admin-pw", TRUSTED_PROXIES="1")
    base = f"http://127.0.0.1:{role_env['FLASK_PORT']}"
    web = roles.start("api")
    assert wait_until(lambda: web.poll() is None and answers(base), 30), roles.log("api")
    assert [login(base, "guess", "203.0.113.9") for _ in range(11)] == [401] * 10 + [429]
    assert login(base, "admin-pw", "198.51.100.7") == 200  # another client behind the same proxy
