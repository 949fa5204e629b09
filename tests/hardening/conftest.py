"""The integration fixtures (real processes, real Redis) for the hardening tests that need them."""

from tests.integration.conftest import role_env, roles  # noqa: F401
