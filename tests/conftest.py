"""Fixtures shared by every test: settings, a private fakeredis server, the web app and its test client,
and the real Redis: 127.0.0.1:6379 (database 13, or ROUTER_TEST_REDIS_DB, flushed around each test) when it answers,
otherwise a private redis-server on a free port when one is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import fakeredis
import pytest
import redis

from api import create_app
from tests.support import free_port, make_settings, wait_until

TEST_DB = int(os.environ.get("ROUTER_TEST_REDIS_DB", "13"))  # another database lets two checkouts test at once
CHECKOUT_VAR = Path(__file__).resolve().parents[1] / "var"


def _var_files() -> dict[str, tuple[int, int]]:
    """Every file under the checkout's var/ with its size and modification time."""
    if not CHECKOUT_VAR.exists():
        return {}
    return {str(f.relative_to(CHECKOUT_VAR)): (f.stat().st_size, f.stat().st_mtime_ns) for f in CHECKOUT_VAR.rglob("*") if f.is_file()}


@pytest.fixture(scope="session", autouse=True)
def checkout_var_untouched():
    """Tests write only to temporary folders: the run fails if anything in the checkout's var/ appeared or changed."""
    before = _var_files()
    yield
    after = _var_files()
    changed = sorted(name for name in after.keys() | before.keys() if after.get(name) != before.get(name))
    assert not changed, f"tests wrote into the checkout's var/: {changed}"


@pytest.fixture
def settings():
    return make_settings()


@pytest.fixture
def fake_redis():
    """A fakeredis client on its own server, so tests never see each other's jobs."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))


@pytest.fixture
def app(settings, fake_redis):
    return create_app(settings, fake_redis)


@pytest.fixture
def client(app):
    return app.test_client()


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url():
    url = f"redis://127.0.0.1:6379/{TEST_DB}"
    if _answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("integration tests need Redis: run one on 127.0.0.1:6379 or install redis-server (.ci/run starts one)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="router-redis-")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir])
    url = f"redis://127.0.0.1:{port}/{TEST_DB}"
    assert wait_until(lambda: _answers(url), 10), "private redis-server did not start"
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture
def real_redis(redis_url):
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()
