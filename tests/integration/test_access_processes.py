"""The access table as an attacker meets it: the web (and worker) as real processes against the real Redis.

Replayed signed state changes, a page's form-encoded POST, and logins that outlive their password or their hours.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from common.store import jobqueue
from common.store.payloads import QueryPayload
from tests.integration.conftest import wait_ready
from tests.support import signed_headers, wait_until

pytestmark = pytest.mark.integration
API = "/qmt/trade/api"
OFFICER = {"client_id": "risk-officer", "secret": "officer-secret-0123456789", "scopes": ["trade", "cancel", "query", "admin"]}
ROUTINE = {"name": "sweep", "kind": "nhg", "time": "14:57", "accounts": [0], "enabled": False}


def _send(base: str, method: str, path: str, body: object, headers: dict[str, str], opener: urllib.request.OpenerDirector | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json", **headers})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"{}"), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers


def _twice(base: str, method: str, path: str, body: object) -> tuple[int, int, dict]:
    """The same signed request sent twice (one signature, as a captured request is replayed)."""
    headers = signed_headers(method, path, body, client_id=OFFICER["client_id"], secret=OFFICER["secret"])
    first, _, _ = _send(base, method, path, body, headers)
    second, answer, _ = _send(base, method, path, body, headers)
    return first, second, answer


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_every_state_change_replayed_is_refused_as_a_replay(roles, http, role_env):
    role_env.update(API_CLIENTS=json.dumps([OFFICER]), ROUTINES=json.dumps([ROUTINE]))
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    base = http.base_url
    changes = [
        ("POST", f"{API}/risk/kill_switch", {"on": True, "cancel_open": True}, 200),
        ("POST", f"{API}/risk/kill_switch", {"on": False}, 200),  # a captured release must not release it again later
        ("PUT", f"{API}/risk", {"max_order_notional": 200_000}, 200),
        ("PUT", f"{API}/routines", {"routines": [ROUTINE]}, 200),
        ("POST", f"{API}/routines/sweep/run", {"force": True}, 202),
        ("POST", f"{API}/sim/next_day", {"days": 1}, 202),
    ]
    for method, path, body, accepted in changes:
        first, second, answer = _twice(base, method, path, body)
        assert (first, second) == (accepted, 401), (method, path, first, second, answer)
        assert "replayed" in answer["error"], answer
    reads = [("POST", f"{API}/orders", {"trader_index": 0, "cancelable_only": False}), ("GET", f"{API}/risk/kill_switch", None)]
    for method, path, body in reads:  # reads are never replays: old clients repeat identical queries
        first, second, _ = _twice(base, method, path, body)
        assert (first, second) == (200, 200), (path, first, second)


def _page_session(base: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    """A browser's session opened by the login page's form; its opener (with the cookie) and the CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/login", timeout=10) as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": "trader", "password": password, "csrf_token": token}).encode()
    login = urllib.request.Request(f"{base}/login", data=form, method="POST", headers={"Accept": "text/html"})
    with opener.open(login, timeout=10) as answer:
        assert answer.status == 200 and "login" not in answer.url, answer.url  # followed the redirect to the status page
    with opener.open(f"{base}/", timeout=10) as status_page:
        token = re.search(r'name="csrf-token" content="([^"]+)"', status_page.read().decode()).group(1)
    return opener, token


def test_a_pages_form_encoded_post_is_refused_and_never_reaches_every_account(roles, http, role_env, real_redis):
    role_env.update(TRADER_PASSWORD="trader-pw-0123")
    roles.start("api")
    base = http.base_url
    assert wait_until(lambda: _answers(base), 30), roles.log("api")
    opener, token = _page_session(base, "trader-pw-0123")
    form = urllib.parse.urlencode({"trader_index": 1, "csrf_token": token}).encode()
    request = urllib.request.Request(f"{base}{API}/cancel_orders/buy", data=form, method="POST", headers={"X-CSRFToken": token})
    try:
        with opener.open(request, timeout=10) as answer:
            status, body = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read())
    assert status == 400 and "send the body as JSON" in body["error"], (status, body)
    status, body, _ = _send(base, "POST", f"{API}/cancel_orders/buy", {}, {"X-CSRFToken": token}, opener)
    assert status == 400 and body["field"] == "trader_index", (status, body)  # a page names its account
    assert real_redis.llen("rq:queue:cancel") == 0


def _json_login(base: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _, headers = _send(base, "POST", "/login", {"username": "admin", "password": password}, {}, opener)
    assert status == 200
    return opener, headers.get("Set-Cookie", "")


def test_a_login_ends_when_its_password_changes_and_after_its_hours(roles, role_env):
    base = f"http://127.0.0.1:{role_env['FLASK_PORT']}"
    role_env.update(ADMIN_PASSWORD="first-admin-pw")
    roles.start("api")
    assert wait_until(lambda: _answers(base), 30), roles.log("api")
    opener, cookie = _json_login(base, "first-admin-pw")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "expires"} <= flags and "samesite=strict" in cookie.lower(), cookie
    assert _send(base, "GET", f"{API}/risk", None, {}, opener)[0] == 200

    roles.stop("api")
    role_env.update(ADMIN_PASSWORD="second-admin-pw")  # the admin's password changed; the app's secret did not
    roles.start("api")
    assert wait_until(lambda: _answers(base), 30), roles.log("api")
    assert _send(base, "GET", f"{API}/risk", None, {}, opener)[0] == 401

    roles.stop("api")
    role_env.update(SESSION_HOURS="0.001")  # 3.6 s: the lifetime is the promise here, long enough to use it once when loaded
    roles.start("api")
    assert wait_until(lambda: _answers(base), 30), roles.log("api")
    opener, _ = _json_login(base, "second-admin-pw")
    assert _send(base, "GET", f"{API}/risk", None, {}, opener)[0] == 200
    logged_in = time.monotonic()  # after the login: the session's hours count from before this
    assert wait_until(lambda: time.monotonic() - logged_in > 4.5, 10)  # the scenario: its hours pass
    assert _send(base, "GET", f"{API}/risk", None, {}, opener)[0] == 401


LIMITED_ADMIN = {
    "client_id": "admin-of-0",
    "secret": "admin-of-0-secret-0123456789",
    "scopes": ["trade", "cancel", "query", "admin"],
    "accounts": [0],
}
OF_ONE = {"client_id": "query-of-1", "secret": "query-of-1-secret-0123456789", "scopes": ["query"], "accounts": [1]}
ORDER = {"trader_index": 0, "symbol": "600000.SH", "volume": 100, "price": 10.0, "order_type": 23}


def _signed(client: dict, method: str, path: str, body: object) -> dict[str, str]:
    return signed_headers(method, path, body, client_id=client["client_id"], secret=client["secret"])


def test_a_captured_keyed_order_is_never_placed_again_by_its_replays(roles, http, role_env, real_redis):
    """Found by an attack on this change: replaying a signed order with client_order_id plus a fresh, unsigned
    Idempotency-Key header placed a new order each time; and replaying a keyed order refused by the kill switch placed
    it once the switch was released."""
    role_env.update(API_CLIENTS=json.dumps([OFFICER]))
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    base, path = http.base_url, f"{API}/trade"
    body = {**ORDER, "client_order_id": "captured-1"}
    headers = signed_headers("POST", path, body)
    first = _send(base, "POST", path, body, headers)
    assert first[0] == 202, first
    for attempt in range(3):
        status, answer, _ = _send(base, "POST", path, body, {**headers, "Idempotency-Key": f"attacker-{attempt}"})
        assert status == 401 and "replayed" in answer["error"], (status, answer)
    status, answer, _ = _send(base, "POST", path, body, headers)  # the same bytes: it hears of its own order
    assert status == 202 and answer["job_id"] == first[1]["job_id"], answer

    officer = {"client_id": OFFICER["client_id"], "secret": OFFICER["secret"]}
    assert _send(base, "POST", f"{API}/risk/kill_switch", {"on": True}, _signed(officer, "POST", f"{API}/risk/kill_switch", {"on": True}))[0] == 200
    refused_body = {**ORDER, "client_order_id": "refused-1"}
    refused_headers = signed_headers("POST", path, refused_body)
    assert _send(base, "POST", path, refused_body, refused_headers)[0] == 423
    release = {"on": False}
    assert _send(base, "POST", f"{API}/risk/kill_switch", release, _signed(officer, "POST", f"{API}/risk/kill_switch", release))[0] == 200
    status, answer, _ = _send(base, "POST", path, refused_body, refused_headers)
    assert status == 401 and "refused" in answer["error"], (status, answer)  # told halted: never placed by its replay

    orders = jobqueue.wait(real_redis, jobqueue.enqueue(real_redis, QueryPayload(what="orders", account_index=0), 600), 20).result
    assert [o["order_remark"] for o in orders] == [first[1]["job_id"]], orders


def test_an_admin_limited_to_an_account_reaches_no_other_through_routines_or_events(roles, http, role_env):
    """Found by an attack on this change: an admin limited to account 0 could write and run a routine on account 1 (and
    its PUT deleted the routines it could not see), and any client read every account's routine edits in /events."""
    theirs = {"name": "sweep-of-1", "kind": "nhg", "time": "14:57", "accounts": [1], "reserve_amount": 50_000, "enabled": False}
    role_env.update(API_CLIENTS=json.dumps([OFFICER, LIMITED_ADMIN, OF_ONE]))
    roles.start("api")
    base = http.base_url
    assert wait_until(lambda: _answers(base), 30), roles.log("api")
    put = {"routines": [theirs]}
    assert _send(base, "PUT", f"{API}/routines", put, _signed(OFFICER, "PUT", f"{API}/routines", put))[0] == 200

    for accounts in ([1], "all"):
        attempt = {"routines": [{"name": "x", "kind": "allin", "time": "10:00", "accounts": accounts, "symbol": "600000.SH", "price": 10.0}]}
        status, answer, _ = _send(base, "PUT", f"{API}/routines", attempt, _signed(LIMITED_ADMIN, "PUT", f"{API}/routines", attempt))
        assert status == 403 and "may not use" in answer["error"], (accounts, status, answer)
    mine = {"routines": [{"name": "mine", "kind": "nhg", "time": "14:57", "accounts": [0], "enabled": False}]}
    assert _send(base, "PUT", f"{API}/routines", mine, _signed(LIMITED_ADMIN, "PUT", f"{API}/routines", mine))[0] == 200
    listed = _send(base, "GET", f"{API}/routines", None, _signed(OFFICER, "GET", f"{API}/routines", None))[1]["routines"]
    assert sorted(r["name"] for r in listed) == ["mine", "sweep-of-1"]  # the one it could not see is kept
    run = {"force": True}
    status, _, _ = _send(base, "POST", f"{API}/routines/sweep-of-1/run", run, _signed(LIMITED_ADMIN, "POST", f"{API}/routines/sweep-of-1/run", run))
    assert status == 404

    for client in (LIMITED_ADMIN, OF_ONE):
        query = "last=100&kind=config"
        events = _send(base, "GET", f"{API}/events?{query}", None, signed_headers("GET", f"{API}/events", None, query=query,
                                                                                      client_id=client["client_id"], secret=client["secret"]))[1]  # fmt: skip
        assert events["events"] == [], (client["client_id"], events)
