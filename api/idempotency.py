"""Reading a request's idempotency key: an `Idempotency-Key` header, or a `client_order_id` in the body.

The Desk (common.desk.submission) turns the key into fixed job ids, one per account; RQ's unique enqueue
is atomic in Redis, so two web processes racing with the same key still make one job. The same key
with a different request is refused (409). The memory lasts as long as the job: JOB_TTL, at least 24 h.
"""

from __future__ import annotations

import hashlib
import re

from flask import request

from api.auth import parsed_body
from api.signing import canonical_body
from common.desk.callers import Idempotency
from common.rules.exceptions import InvalidIdempotencyKey

HEADER = "Idempotency-Key"
HEADER_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII
CLIENT_ORDER_ID = re.compile(r"^[\x21-\x7e]{1,24}$")  # fits xtquant's order_remark, as the old clients expect


def request_key() -> str | None:
    """The request's idempotency key, if it has one: the header, else the body's client_order_id."""
    header = request.headers.get(HEADER)
    if header is not None:
        if not HEADER_KEY.match(header):
            raise InvalidIdempotencyKey(f"{HEADER} must be 1-64 printable ASCII characters", HEADER)
        return header
    body = parsed_body()
    client_order_id = body.get("client_order_id") if isinstance(body, dict) else None
    if client_order_id is None:
        return None
    if not isinstance(client_order_id, str) or not CLIENT_ORDER_ID.match(client_order_id):
        raise InvalidIdempotencyKey("client_order_id must be 1-24 printable ASCII characters", "client_order_id")
    return client_order_id


def fingerprint() -> str:
    """What makes two requests the same: method, path and canonical body."""
    seen = f"{request.method}\n{request.path}\n{canonical_body(parsed_body())}"
    return hashlib.sha256(seen.encode()).hexdigest()


def of_request() -> Idempotency | None:
    """The request's key and fingerprint for the Desk, or None when the request carries no key."""
    key = request_key()
    return Idempotency(key, fingerprint()) if key else None
