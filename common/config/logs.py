"""Logging shared by the roles: one JSON object per line, with the job or request it is about, never a secret.

Every role (web, worker, scheduler, the embedded run) calls `configure` once at start-up. Each line is
an object with `ts` (UTC, ISO 8601), `level`, `logger`, `role`, `pid`, `thread`, `message`, then the
context of the job or request the line is about — `job_id`, `client_id`, `account_index`, and in the web
`method`, `path`, `route` — and `exc_info` (the traceback as text) when there is one.

The context comes from two places: `job_context` / `request_context` (a contextvar the worker sets while a
job runs and the web sets per request, so every line logged meanwhile carries it), and a call's own
`extra={"job_id": ...}` (the broker's callback thread, which no job context reaches).

Secrets never reach a line: every value of a secret setting (passwords, client secrets, the DingTalk token
and secret, the Flask key, Redis' password) is replaced by `***`, and every configured account number by its
mask (common.rules.masking.mask_account), wherever it appears in a line. `LOG_LEVEL` applies to every logger; RQ's and
APScheduler's chatter (a line per job, a line per scheduler run) stays at WARNING unless LOG_LEVEL is DEBUG.
The audit trail (`router.audit`) is not logging: it goes to its own file (and the Redis stream), never to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from common.rules.loose_types import Json, JsonObject
from common.rules.masking import mask_account

if TYPE_CHECKING:
    from common.config.settings import Settings

CONTEXT_FIELDS = ("job_id", "job_ids", "client_id", "account_index", "method", "path", "route")
CHATTY = ("rq.worker", "rq.job", "apscheduler.scheduler", "apscheduler.executors.default")  # a line per job / per run at INFO
MIN_SECRET_CHARS = 4  # shorter values are not searched for: masking every "ab" would garble the log, not protect it
AUDIT_LOGGER = "router.audit"

_context: ContextVar[JsonObject | None] = ContextVar("router_log_context", default=None)


# -- context -------------------------------------------------------------------------------------
def set_context(**fields: Json) -> None:
    """Start a fresh context (a request, a job): these fields go on every line logged in this thread or task."""
    _context.set({k: v for k, v in fields.items() if v is not None})


def add_context(**fields: Json) -> None:
    """Add fields to the current context (e.g. the client id once a request is authenticated)."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def clear_context() -> None:
    _context.set(None)


def current_context() -> JsonObject:
    return dict(_context.get() or {})


@contextmanager
def job_context(job_id: str, client_id: str | None = None, account_index: int | None = None) -> Iterator[None]:
    """Within the block, every line carries the job's id, client id and account index."""
    token = _context.set({k: v for k, v in {"job_id": job_id, "client_id": client_id, "account_index": account_index}.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


# -- redaction -----------------------------------------------------------------------------------
class Redactor:
    """Replaces secrets with `***` and account numbers with their masks, wherever they appear in a text."""

    def __init__(self, secrets: list[str] | None = None, accounts: list[str] | None = None):
        replacements = {s: "***" for s in secrets or [] if len(s) >= MIN_SECRET_CHARS}
        replacements.update({a: mask_account(a) for a in accounts or [] if len(a) >= MIN_SECRET_CHARS})
        # longest first: a secret containing an account number is replaced whole
        self._replacements = sorted(replacements.items(), key=lambda item: -len(item[0]))

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        return cls(secret_values(settings), [account.account_id for account in settings.TRADER_CONFIGS])

    def __call__(self, text: str) -> str:
        for secret, replacement in self._replacements:
            if secret in text:
                text = text.replace(secret, replacement)
        return text


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold: the fields kept out of repr (passwords, keys, tokens), client secrets, Redis' password."""
    found: list[str] = []
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if field.repr is False and isinstance(value, str) and value:
            found.append(value)
    found += [client.secret for client in settings.clients.values() if client.secret]
    url = settings.REDIS_URL
    if "@" in url and "://" in url:
        credentials = url.split("://", 1)[1].rsplit("@", 1)[0]
        found.append(credentials.split(":", 1)[1] if ":" in credentials else credentials)
    return found


# -- the line ------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per record (no newline inside: a traceback is a string field), redacted."""

    def __init__(self, role: str = "", redact: Redactor | None = None):
        super().__init__()
        self._role = role
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        line: JsonObject = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "role": self._role,
            "pid": record.process,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        line.update(_context.get() or {})
        for name in CONTEXT_FIELDS:  # a call's own extra= wins over the context (None: not given)
            if record.__dict__.get(name) is not None:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps({k: self._redact(v) if isinstance(v, str) else v for k, v in line.items()}, ensure_ascii=False, default=str)


def configure(settings: Settings, role: str = "") -> None:
    """Logging for a role: JSON lines on stderr at LOG_LEVEL, secrets redacted; the audit trail to AUDIT_LOG_FILE only."""
    level = logging.getLevelName(settings.LOG_LEVEL.upper())
    if not isinstance(level, int):
        level = logging.INFO
    root = logging.getLogger()
    formatter = JsonFormatter(role, Redactor.for_settings(settings))
    ours = [h for h in root.handlers if getattr(h, "router_handler", False)]
    handler = ours[0] if ours else logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    if not ours:
        handler.router_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.captureWarnings(True)  # a library's warning becomes a JSON line too, not a bare line on stderr
    _log_uncaught()
    _audit_to_file(settings.AUDIT_LOG_FILE or "")


def _audit_to_file(audit_file: str) -> None:
    """The audit trail to its rotating file (10 MB, 20 kept), not to the log: it does not propagate to the root's handler."""
    audit = logging.getLogger(AUDIT_LOGGER)
    audit.setLevel(logging.INFO)
    audit.propagate = False
    if audit_file and not any(isinstance(h, RotatingFileHandler) for h in audit.handlers):
        Path(audit_file).parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(audit_file, maxBytes=10 * 1024 * 1024, backupCount=20, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))  # the entry is a JSON line already (common.store.audit.encode)
        audit.addHandler(handler)
    if not audit.handlers:
        audit.addHandler(logging.NullHandler())  # no file: the Redis stream only, and never logging's last-resort stderr


def _log_uncaught() -> None:
    """An exception nobody caught (main thread or another) is logged as one line, not printed as a bare traceback."""
    log = logging.getLogger("router.uncaught")

    def on_main(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, traceback)
            return
        log.critical("uncaught %s in pid %d", kind.__name__, os.getpid(), exc_info=(kind, value, traceback))

    def on_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread else "?"
        log.critical("uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=args.exc_value)

    sys.excepthook = on_main
    threading.excepthook = on_thread
