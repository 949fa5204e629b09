"""Fixtures shared by every test: settings, a private fakeredis server, the web app and its test client."""
from __future__ import annotations

import fakeredis
import pytest

from api import create_app
from tests.support import make_settings


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
