"""Fixtures of the API tests: an admin logged in by the JSON login route (over Flask's test client and fakeredis)."""

from __future__ import annotations

import pytest

from api import create_app
from tests.support import make_settings


@pytest.fixture
def admin(fake_redis):
    app = create_app(make_settings(ADMIN_PASSWORD="admin-pw"), fake_redis)
    client = app.test_client()
    assert client.post("/login", json={"username": "admin", "password": "admin-pw"}).status_code == 200
    return client
