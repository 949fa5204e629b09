"""Structured logs: one JSON object per line, the job's or request's context on it, no secret, LOG_LEVEL obeyed."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading

import pytest

from common.config import logs
from tests.support import CLIENT_SECRET, make_settings

AUDIT = logging.getLogger(logs.AUDIT_LOGGER)


@pytest.fixture
def configured(tmp_path):
    """configure() on this process, with its handler writing to a buffer; logging's global state restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, sys.excepthook, threading.excepthook, list(AUDIT.handlers), AUDIT.propagate)
    levels = {name: logging.getLogger(name).level for name in logs.CHATTY}
    buffer = io.StringIO()

    def run(**overrides) -> io.StringIO:
        settings = make_settings(AUDIT_LOG_FILE=str(tmp_path / "audit.log"), **overrides)
        logs.configure(settings, "web")
        [ours] = [h for h in root.handlers if getattr(h, "router_handler", False)]
        ours.setStream(buffer)
        return buffer

    yield run
    for handler in root.handlers[:]:
        if getattr(handler, "router_handler", False):
            root.removeHandler(handler)
    for handler in AUDIT.handlers[:]:
        if handler not in saved[4]:
            AUDIT.removeHandler(handler)
            handler.close()
    root.setLevel(saved[1])
    sys.excepthook, threading.excepthook, AUDIT.propagate = saved[2], saved[3], saved[5]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_every_line_is_one_json_object_with_the_jobs_context_and_a_traceback_inside(configured):
    buffer = configured()
    log = logging.getLogger("worker.jobs")
    with logs.job_context("o0123456789abcdef", "test-client", 1):
        log.info("job %s order %s", "o0123456789abcdef", 7)
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            log.exception("it failed")
    log.info("after the job")
    log.warning("from a callback", extra={"job_id": "o1111111111111111"})
    first, failed, after, callback = lines(buffer)
    assert first["message"] == "job o0123456789abcdef order 7" and first["level"] == "INFO" and first["role"] == "web"
    assert (first["job_id"], first["client_id"], first["account_index"]) == ("o0123456789abcdef", "test-client", 1)
    assert failed["exc_info"].endswith("ValueError: bad\nthing") and failed["job_id"] == "o0123456789abcdef"
    assert "job_id" not in after
    assert callback["job_id"] == "o1111111111111111"


def test_secrets_and_full_account_numbers_never_reach_a_line(configured):
    buffer = configured(ADMIN_PASSWORD="admin-pass-words", DINGTALK_ACCESS_TOKEN="ding-token-value", REDIS_URL="redis://:redis-pw@127.0.0.1:1/0")
    log = logging.getLogger("anything")
    log.error("client secret %s, password %s, token %s, redis %s", CLIENT_SECRET, "admin-pass-words", "ding-token-value", "redis-pw")
    log.info("account SIM000001 and SIM000002 (quoted: %r)", "SIM000001")
    text = buffer.getvalue()
    for secret in (CLIENT_SECRET, "admin-pass-words", "ding-token-value", "redis-pw", "SIM000001", "SIM000002", "test-flask-secret"):
        assert secret not in text
    assert "SIM***001" in text and "SIM***002" in text and text.count("***") >= 6


def test_the_audit_trail_goes_to_its_file_not_to_the_log(configured, tmp_path):
    buffer = configured()
    AUDIT.info('{"action": "trade", "outcome": "accepted"}')
    assert buffer.getvalue() == ""
    assert (tmp_path / "audit.log").read_text(encoding="utf-8") == '{"action": "trade", "outcome": "accepted"}\n'


@pytest.mark.parametrize(("level", "chatty"), [("DEBUG", logging.DEBUG), ("INFO", logging.WARNING), ("ERROR", logging.ERROR)])
def test_log_level_is_obeyed_and_rq_and_apscheduler_stay_quiet_below_debug(configured, level, chatty):
    buffer = configured(LOG_LEVEL=level)
    assert logging.getLogger().level == getattr(logging, level)
    assert all(logging.getLogger(name).level == chatty for name in logs.CHATTY)
    logging.getLogger("web").debug("a debug line")
    assert ("a debug line" in buffer.getvalue()) is (level == "DEBUG")


def test_an_uncaught_exception_in_a_thread_is_one_json_line(configured):
    buffer = configured()

    def explode() -> None:
        raise RuntimeError("nobody caught me")

    thread = threading.Thread(target=explode, name="doomed")
    thread.start()
    thread.join()
    [line] = lines(buffer)
    assert line["level"] == "CRITICAL" and "doomed" in line["message"] and "nobody caught me" in line["exc_info"]
