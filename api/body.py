"""What a request body may hold: JSON as a client's json.dumps writes it, shallow, with finite numbers and valid text.

Anything else is refused with InvalidRequest (400, field "body") naming the problem, before a
signature is checked or a model sees it. So no body reaches Python's recursion limit, its
int-from-string limit (4300 digits) or the UTF-8 encoding of the audit trail and turns into a 500.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import NoReturn

from common.rules.exceptions import InvalidRequest
from common.rules.loose_types import Json

MAX_DEPTH = 32  # levels of nested arrays and objects; every route's body is one or two deep
MAX_INTEGER_DIGITS = 30  # far beyond any volume, order id or amount in yuan


def decode(raw: bytes) -> Json:
    """The parsed JSON of `raw` (a non-empty body); InvalidRequest naming what is wrong when it is not acceptable JSON."""
    try:
        body = json.loads(raw, parse_int=_integer, parse_float=_finite, parse_constant=_not_a_number)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise InvalidRequest(f"request body is not valid JSON: {error}", "body") from None
    _check_shape(body)
    return body


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InvalidRequest(f"request body has an integer of {digits} digits; at most {MAX_INTEGER_DIGITS} digits are accepted", "body")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"request body has a number too large to represent ({text[:24]}...); numbers must be finite", "body")
    return value


def _not_a_number(name: str) -> NoReturn:
    raise InvalidRequest(f"request body has {name}, which is not a JSON number; numbers must be finite", "body")


def _too_deep() -> InvalidRequest:
    return InvalidRequest(f"request body nests arrays or objects deeper than {MAX_DEPTH} levels", "body")


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("request body has text that is not valid Unicode (a lone surrogate escape such as \\ud800)", "body") from None


def _check_shape(body: object) -> None:
    """Depth and text of every value, walked without recursion (a deep body must not recurse here either)."""
    pending: list[tuple[object, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise _too_deep()
            if isinstance(value, dict):
                for key in value:
                    _check_text(key)
                children: Iterable[object] = value.values()
            else:
                children = value
            pending.extend((child, depth + 1) for child in children)
