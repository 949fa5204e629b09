"""The signature scheme, byte for byte as the old server's clients compute it."""

from __future__ import annotations

import hashlib
import hmac

from api.signing import canonical_body, sign, signature_matches, string_to_sign


def test_canonical_body_sorts_keys_drops_spaces_and_escapes_non_ascii():
    assert canonical_body({"b": 1, "a": [1, 2], "name": "主"}) == '{"a":[1,2],"b":1,"name":"\\u4e3b"}'
    assert canonical_body(None) == "" and canonical_body({}) == ""


def test_signature_is_hmac_sha256_over_the_six_lines():
    message = 'POST\n/qmt/trade/api/trade\n\n{"a":1}\n1700000000\nclient'
    assert string_to_sign("post", "/qmt/trade/api/trade", "", '{"a":1}', "1700000000", "client") == message
    expected = hmac.new(b"secret", message.encode(), hashlib.sha256).hexdigest()
    assert sign("secret", "POST", "/qmt/trade/api/trade", "", {"a": 1}, "1700000000", "client") == expected


def test_signature_comparison_accepts_uppercase_hex_and_rejects_others():
    good = sign("s", "GET", "/p", "x=1", None, "1", "c")
    assert signature_matches(good, good.upper())
    assert not signature_matches(good, good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not signature_matches(good, "")
