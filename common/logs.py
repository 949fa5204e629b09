"""Logging set-up shared by the roles: one line per event, never a secret."""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    logging.getLogger("rq.worker").setLevel(max(logging.getLogger().level, logging.WARNING))
    # APScheduler logs every run of every job at INFO (the heartbeat: every 5 s); keep its warnings only
    for chatty in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(chatty).setLevel(max(logging.getLogger().level, logging.WARNING))
