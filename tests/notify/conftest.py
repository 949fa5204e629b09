"""Fixtures of the notification tests: the stand-in robot, and the integration fixtures (real processes)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import http, role_env, roles  # noqa: F401 (fixtures)
from tests.notify.robot import StandInRobot


@pytest.fixture
def robot():
    stand_in = StandInRobot()
    yield stand_in
    stand_in.close()
