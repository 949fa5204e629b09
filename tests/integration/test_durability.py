"""The router says, in one line, when the Redis in use would lose jobs on a restart or may evict keys: in /health and in
each role's start-up log; nothing when it runs with deploy/redis.conf. Real processes against private redis-servers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import ROOT
from tests.support import free_port, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"


def _redis(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    folder = tmp_path / f"redis-{port}"
    folder.mkdir()
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test"
    server = subprocess.Popen([binary, *options, "--port", str(port), "--dir", str(folder)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    assert wait_until(lambda: _answers(url), 10), "the private redis-server did not start"
    return server, url


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize("kept", [False, True], ids=["nothing-on-disk", "deploy-redis-conf"])
def test_the_roles_and_health_say_when_redis_would_lose_jobs(roles, http, role_env, tmp_path, kept):
    options = [str(ROOT / "deploy" / "redis.conf")] if kept else ["--save", "", "--appendonly", "no", "--maxmemory-policy", "allkeys-lru"]
    server, url = _redis(tmp_path, *options)
    try:
        role_env["REDIS_URL"] = url
        for role in ("api", "worker", "scheduler"):
            roles.start(role)
        assert wait_until(lambda: _health(http) is not None, 30), roles.log("api")
        keeps = _health(http)["redis"]
        started = ("listening", "taking jobs", "scheduler running")
        for role in ("api", "worker", "scheduler"):
            assert wait_until(lambda role=role: any(word in roles.log(role) for word in started), 30), roles.log(role)
            said = [line for line in roles.log(role).splitlines() if "Redis keeps nothing on disk" in line or "Redis may evict keys" in line]
            assert len(said) == (0 if kept else 2), (role, said)
        if kept:
            assert (keeps["keeps_data"], keeps["warnings"]) == (True, []), keeps
        else:
            assert keeps["keeps_data"] is False and len(keeps["warnings"]) == 2, keeps
            assert "appendonly no" in keeps["warnings"][0] and "deploy/redis.conf" in keeps["warnings"][0]
            assert "maxmemory-policy allkeys-lru" in keeps["warnings"][1]
    finally:
        roles.stop_all()
        server.kill()
        server.wait(10)


def _health(http) -> dict | None:
    try:
        answer = http.get(f"{API}/health")
    except OSError:
        return None
    return answer.body if "redis" in answer.body else None
