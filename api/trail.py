"""Every state-changing API request into the audit trail, accepted or rejected (common.store.audit)."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request

from api import router
from common.store import audit

log = logging.getLogger("web")

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def register(app: Flask) -> None:
    @app.after_request
    def _audit(response: Response) -> Response:
        endpoint = request.endpoint
        if request.method in SAFE_METHODS or endpoint is None or endpoint == "static":
            return response
        try:
            _record(response, endpoint)
        except Exception:  # the action is done (an order may be queued): its answer must reach the client, or it is sent again
            log.exception("audit entry for %s %s not written", request.method, request.path)
        return response


def _record(response: Response, endpoint: str) -> None:
    caller = g.get("caller")
    client_id = caller.client_id if caller else f"unverified:{request.headers.get('X-Client-ID', '-')}"
    answer = response.get_json(silent=True) or {}
    job_ids = answer.get("job_ids") or ([answer["job_id"]] if answer.get("job_id") else [])
    payload = None if endpoint == "auth.login" else g.get("parsed_body")
    error = g.get("auth_refusal") or answer.get("error")  # the precise reason a signature was refused (api.auth)
    parsed = g.get("parsed_body")
    account_index = parsed.get("trader_index") if isinstance(parsed, dict) else None
    log.info(
        "%s %s %s -> %s jobs=%s%s",
        client_id[:100],
        request.method,
        request.path[:200],
        response.status_code,
        ",".join(job_ids) or "-",
        f" error={str(error)[:200]!r}" if error else "",
        # the job(s) and account the line is about, as fields of the JSON line (common.config.logs)
        extra={
            "client_id": client_id[:100],
            "job_ids": job_ids or None,
            "job_id": job_ids[0] if len(job_ids) == 1 else None,
            "account_index": account_index if isinstance(account_index, int) and not isinstance(account_index, bool) else None,
        },
    )
    # Redis just failed this request (stopped or frozen): the entry goes to the file only, so the answer is not held again
    store = None if g.get("store_unavailable") else router().redis
    audit.record(
        store,
        endpoint,
        client_id=client_id,
        source=request.remote_addr or "",
        outcome="accepted" if response.status_code < 400 else "rejected",
        status=response.status_code,
        payload=payload,
        job_ids=job_ids,
        error=error,
    )
