"""Waiting answers for clients that cannot poll a job: `Prefer: wait=N` (RFC 7240) or a client's default wait.

When every job of the request gets the broker's verdict within N seconds (at most 30), the answer
is the old server's synchronous shape, 200 `{"message", "results": [{"trader_index", "result",
"status": "success"|"failed", "error"}], "job_ids"}`; otherwise the usual 202 with the job ids.
`Preference-Applied` says which: `wait=N`, or `respond-async`.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from common.exceptions import InvalidRequest
from common.submission import WAIT_MAX_SECONDS, Caller, Desk, Queued

HEADER = "Prefer"


def requested_wait(caller: Caller) -> float:
    """Seconds to wait for the broker's verdict: the request's `Prefer: wait=N`, else the client's default (0: none)."""
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
    return caller.default_wait


def waited_answer(desk: Desk, queued: Queued, wait: float, **old_fields: object) -> Response | None:
    """The old server's synchronous answer when every verdict comes within `wait` seconds; else None.

    `old_fields` are the extra keys the old server put on this route's answer (operation, reserve_amount, ...).
    """
    verdicts = desk.verdicts(queued, wait)
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
