"""Waiting answers for clients that cannot poll a job: `Prefer: wait=N` (RFC 7240) or a client's default wait.

When every job of the request gets the broker's verdict within N seconds (at most 30), the answer
is the old server's synchronous shape, 200 `{"message", "results": [{"trader_index", "result",
"status": "success"|"failed", "error"}], "job_ids"}`; otherwise the usual 202 with the job ids.
`Preference-Applied` says which: `wait=N`, or `respond-async`.
"""

from __future__ import annotations

import logging
import re

import redis
from flask import Flask, Response, jsonify, request

from common.desk.callers import Caller, Queued
from common.desk.reads import WAIT_MAX_SECONDS
from common.desk.submission import Desk
from common.desk.verdicts import Verdict
from common.rules.exceptions import InvalidRequest, RouterError

HEADER = "Prefer"
SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")
log = logging.getLogger("web")


def preferred_wait() -> float | None:
    """Seconds the request asks to wait for with `Prefer: wait=N` (capped at 30); None when it does not ask."""
    for preference in request.headers.get(HEADER, "").split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() != "wait":
            continue  # other preferences (respond-async, return=...) change nothing here
        text = value.strip().strip('"')
        seconds = float(text) if SECONDS.fullmatch(text) else -1.0  # plain decimal digits: no 1_0, 1e3, inf or nan
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
    def _prefer_checked_before_anything_is_queued() -> None:
        """A malformed `Prefer` is refused before the route runs: after the enqueue, nothing may fail the answer."""
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            preferred_wait()


def waited_answer(desk: Desk, caller: Caller, queued: Queued, wait: float, **old_fields: object) -> Response | None:
    """The old server's synchronous answer when every verdict comes within `wait` seconds; else None (the 202), except
    to a client of the old server (`Caller.old_protocol`), which gets the old failure shape saying the outcome is not
    yet known, with the job ids: it cannot poll, and would read a 202 as success.

    `old_fields` are the extra keys the old server put on this route's answer (operation, reserve_amount, ...).
    The jobs are queued already: a Redis failure while waiting is never an error answer, so a client never retries an
    order that was placed.
    """
    try:
        known, missing = desk.verdicts_within(caller, queued, wait)
    except (RouterError, redis.RedisError) as failure:
        log.warning("waiting for the verdict on %s failed (%s)", ",".join(queued.job_ids), failure.__class__.__name__)
        known, missing = [None] * len(queued.jobs), f"Redis did not answer while the verdict was awaited ({failure.__class__.__name__})"
    if missing and not caller.old_protocol:
        return None
    results = [_result(index, job_id, verdict, missing) for (index, job_id), verdict in zip(queued.jobs, known, strict=True)]
    succeeded = sum(1 for verdict in known if verdict is not None and verdict.succeeded)
    body: dict[str, object] = {"success": not missing and succeeded == len(known), "job_ids": queued.job_ids}
    if missing:
        pending = [job_id for (_, job_id), verdict in zip(queued.jobs, known, strict=True) if verdict is None]
        body["error"] = NOT_YET_KNOWN.format(why=missing, ids=", ".join(pending))
        body["message"] = f"outcome not yet known for {len(pending)} of {len(known)}"
    else:
        body["message"] = f"{succeeded} of {len(known)} accepted by the broker"
    body.update(results=results, **old_fields)
    response = jsonify(body)
    response.status_code = 202 if missing else 200
    response.headers["Preference-Applied"] = "respond-async" if missing else f"wait={wait:g}"
    return response


NOT_YET_KNOWN = (
    "outcome not yet known: {why}. The order is queued as job {ids} and may still be placed: look it up with "
    "GET /qmt/trade/api/jobs/<job_id> (or in QMT) before sending it again"
)


def _result(trader_index: int | None, job_id: str, verdict: Verdict | None, missing: str) -> dict[str, object]:
    """One job's entry in the old answer's `results`: its verdict, or a failure saying it is not yet known."""
    if verdict is None:
        error = NOT_YET_KNOWN.format(why=missing, ids=job_id)
        return {"trader_index": trader_index, "job_id": job_id, "status": "failed", "outcome": "not_yet_known", "error": error, "result": {}}
    status = "success" if verdict.succeeded else "failed"
    return {"trader_index": trader_index, "job_id": job_id, "status": status, "outcome": status, "error": verdict.error, "result": verdict.result}
