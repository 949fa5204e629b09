"""Waiting answers for clients that cannot poll a job: `Prefer: wait=N` (RFC 7240) or a client's default wait.

When every job of the request gets the broker's verdict within N seconds (at most 30), the answer
is the old server's synchronous shape, 200 `{"message", "results": [{"trader_index", "result",
"status": "success"|"failed", "error"}], "job_ids"}`; otherwise the usual 202 with the job ids.
`Preference-Applied` says which: `wait=N`, or `respond-async`.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, jsonify, request

from common.callers import Caller, Queued
from common.exceptions import InvalidRequest, RouterError
from common.submission import WAIT_MAX_SECONDS, Desk

HEADER = "Prefer"
log = logging.getLogger("web")


def preferred_wait() -> float | None:
    """Seconds the request asks to wait for with `Prefer: wait=N` (capped at 30); None when it does not ask."""
    for preference in request.headers.get(HEADER, "").split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() != "wait":
            continue  # other preferences (respond-async, return=...) change nothing here
        try:
            seconds = float(value.strip().strip('"'))
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise InvalidRequest(f"{HEADER}: wait must be a number of seconds from 0 to {WAIT_MAX_SECONDS}, got {value.strip()!r}", HEADER)
        return min(seconds, WAIT_MAX_SECONDS)
    return None


def requested_wait(caller: Caller) -> float:
    """Seconds to wait for the broker's verdict: the request's `Prefer: wait=N`, else the client's default (0: none)."""
    seconds = preferred_wait()
    return caller.default_wait if seconds is None else seconds


def register(app: Flask) -> None:
    @app.before_request
    def _prefer_checked_before_anything_is_queued():
        """A malformed `Prefer` is refused before the route runs: after the enqueue, nothing may fail the answer."""
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            preferred_wait()


def waited_answer(desk: Desk, caller: Caller, queued: Queued, wait: float, **old_fields: object) -> Response | None:
    """The old server's synchronous answer when every verdict comes within `wait` seconds; else None.

    `old_fields` are the extra keys the old server put on this route's answer (operation, reserve_amount, ...).
    The jobs are queued already: a Redis failure while waiting is None (the 202 with the job ids), never an error,
    so a client never retries an order that was placed.
    """
    try:
        verdicts = desk.verdicts(caller, queued, wait)
    except (RouterError, redis.RedisError) as failure:
        log.warning("waiting for the verdict on %s failed (%s); answered 202", ",".join(queued.job_ids), failure.__class__.__name__)
        return None
    if verdicts is None:
        return None
    succeeded = sum(1 for v in verdicts if v.succeeded)
    body = {
        "message": f"{succeeded} of {len(verdicts)} accepted by the broker",
        "results": [
            {"trader_index": v.trader_index, "result": v.result, "status": "success" if v.succeeded else "failed", "error": v.error} for v in verdicts
        ],
        "job_ids": queued.job_ids,
        **old_fields,
    }
    response = jsonify(body)
    response.headers["Preference-Applied"] = f"wait={wait:g}"
    return response
