"""Start-up shared by `python -m api|worker|scheduler`: settings, logging, and a Redis to share."""
from __future__ import annotations

import sys

from common.exceptions import ConfigError
from common.logs import configure
from common.settings import Settings, get_settings


def role_settings(role: str) -> Settings:
    """The settings for a separately run role; exits with status 2 and the reason when they will not do."""
    try:
        settings = get_settings()
    except ConfigError as error:
        print(f"{role}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure(settings.LOG_LEVEL, settings.AUDIT_LOG_FILE)
    if not settings.REDIS_URL:
        print(f"{role}: REDIS_URL is not set; run `python run.py` for the embedded single-process mode", file=sys.stderr)
        raise SystemExit(2)
    return settings
