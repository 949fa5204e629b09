"""Odd query parameters are a 400 naming the parameter, never a 500 or a 503 that blames Redis: the web role as a real
process against the real Redis."""

from __future__ import annotations

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
ODD = [
    ("/jobs", "limit=99999999999999999999999", "limit"),
    ("/jobs", "limit=1e400", "limit"),
    ("/events", "after=99999999999999999999999-0", "after"),
    ("/events", "after=1-99999999999999999999999", "after"),
    ("/events", "after=abc", "after"),
    ("/events", "limit=1e400", "limit"),
    ("/events", "last=1e400", "last"),
    ("/events", "wait=nan", "wait"),
    ("/portfolio/0", "max_age=1e400", "max_age"),
    ("/jobs/o0000000000000000", "wait=inf", "wait"),
]


def test_odd_parameters_are_a_400_naming_the_parameter(roles, http):
    roles.start("api")

    def answers() -> bool:
        try:
            return http.get(f"{API}/health").status in (200, 503)
        except OSError:
            return False

    assert wait_until(answers, 30), roles.log("api")
    for path, query, name in ODD:
        answer = http.get(API + path, query=query)
        assert answer.status == 400 and answer.body.get("field") == name, (path, query, answer)
