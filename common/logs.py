"""Logging set-up shared by the roles: one line per event, never a secret."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "INFO", audit_file: str = "") -> None:
    """Logging for a role: one line per event; the audit trail also to `audit_file` (rotated at 10 MB, 20 kept)."""
    logging.basicConfig(level=level.upper(), format=FORMAT)
    audit = logging.getLogger("router.audit")
    audit.setLevel(logging.INFO)
    if audit_file and not any(isinstance(h, RotatingFileHandler) for h in audit.handlers):
        Path(audit_file).parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(audit_file, maxBytes=10 * 1024 * 1024, backupCount=20, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        audit.addHandler(handler)
    logging.getLogger("rq.worker").setLevel(max(logging.getLogger().level, logging.WARNING))
    # APScheduler logs every run of every job at INFO (the heartbeat: every 5 s); keep its warnings only
    for chatty in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(chatty).setLevel(max(logging.getLogger().level, logging.WARNING))
