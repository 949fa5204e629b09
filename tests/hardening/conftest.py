"""The integration fixtures (real processes, real Redis) for the hardening tests."""

from tests.integration.conftest import http, role_env, roles  # noqa: F401  # pytest finds fixtures by name
