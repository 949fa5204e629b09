"""HMAC-SHA256 request signing, exactly as the old server's clients do it (docs/api.md, "How signing works").

The signed string is METHOD\\nPATH\\nQUERY_STRING\\nBODY\\nTIMESTAMP\\nCLIENT_ID, where BODY is the
canonical JSON of the parsed body (sorted keys, no spaces, ASCII escapes), or "" when there is
no body or it is an empty object. The server verifies against the canonical form of what it
parsed, never against the raw bytes, so a client may send the body with any spacing or key order.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from common.rules.loose_types import Json


def canonical_body(body: Json) -> str:
    """The canonical JSON a client signs for a parsed body; "" for none or {}."""
    if body is None or body == {}:
        return ""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def string_to_sign(method: str, path: str, query_string: str, body: str, timestamp: str, client_id: str) -> str:
    return "\n".join((method.upper(), path, query_string, body, timestamp, client_id))


def sign(secret: str, method: str, path: str, query_string: str, body: Json, timestamp: str, client_id: str) -> str:
    """Lowercase hex HMAC-SHA256 of the request, as a client computes it; `body` is the parsed JSON (or None)."""
    message = string_to_sign(method, path, query_string, canonical_body(body), timestamp, client_id)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())
