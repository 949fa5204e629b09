"""Who is calling: a signed client (HMAC headers) or a logged-in web user, and what they may do."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from datetime import datetime
from typing import cast
from urllib.parse import urlsplit

import redis
from flask import Blueprint, Response, current_app, g, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers.response import Response as BaseResponse  # what redirect() answers; flask's Response is one

from api import body, csrf
from api import router as this_router
from api.openapi import documented
from api.schemas import Done, LoginRequest
from api.signing import sign, signature_matches
from common.config import clock, logs
from common.config.settings import SCOPES
from common.desk.callers import Caller
from common.rules.exceptions import (
    AuthError,
    InvalidRequest,
    LoginFailed,
    LoginThrottled,
    ReplayedRequest,
    ScopeDenied,
    SignatureExpired,
    SignatureInvalid,
    SignatureMissing,
    UnknownClient,
)
from common.rules.loose_types import Json
from common.store import keys

log = logging.getLogger("api.auth")
ROLE_SCOPES = {"admin": SCOPES, "trader": ("trade", "cancel", "query")}
PAGE_SESSION = "page"  # set in a session the login page opened: its state changes need the CSRF token (api.csrf)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def parsed_body() -> Json:
    """The request's JSON body (None when empty), parsed once per request; InvalidRequest when it is not acceptable JSON (api.body)."""
    if "parsed_body" not in g:
        raw = request.get_data(cache=True)
        if not raw.strip():
            g.parsed_body = None
        else:
            g.parsed_body = body.decode(raw)
    return g.parsed_body


def request_body() -> Json:
    """The JSON body for a model to validate: {} when there is none."""
    body = parsed_body()
    return {} if body is None else body


REPLAYED = (
    "request replayed: the same signed request was already received{at}, so nothing was done again (this is not an "
    "authentication failure). To place a second identical order on purpose, vary strategy_name or send a new "
    "client_order_id; to retry one safely, send it with its client_order_id"
)
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # whole unix seconds, as the old clients send str(int(time.time()))
# One answer for an unknown client and a wrong secret, so client ids cannot be enumerated; the audit keeps the reason.
NOT_VERIFIED = "signature does not match the request (check the client id, the secret, the path and the canonical JSON body)"
UNKNOWN_CLIENT_SECRET = secrets.token_hex(32)  # an unknown client's signature is still computed, so timing tells nothing


def _refused(error: AuthError, reason: str) -> AuthError:
    """`error` with the generic answer; the precise reason goes to the audit trail only (api.trail)."""
    g.auth_refusal = reason
    return error


def _verify_signature(reading: bool) -> Caller:
    router = this_router()
    headers = request.headers
    client_id, timestamp, signature = headers.get("X-Client-ID"), headers.get("X-Timestamp"), headers.get("X-Signature")
    if not (client_id and timestamp and signature):
        missing = [name for name, value in (("X-Client-ID", client_id), ("X-Timestamp", timestamp), ("X-Signature", signature)) if not value]
        raise SignatureMissing(f"not logged in and missing signature header(s): {', '.join(missing)}")
    # Timestamp and body are judged before the client is looked up, so no answer depends on whether it exists.
    if not TIMESTAMP.fullmatch(timestamp):
        raise SignatureInvalid("X-Timestamp must be whole unix seconds in decimal digits, e.g. 1700000000")
    window = router.settings.API_SIGNATURE_TIMEOUT
    skew = time.time() - int(timestamp)
    if abs(skew) > window:
        raise SignatureExpired(f"timestamp is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'}; the limit is {window} s")
    body = parsed_body()
    client = router.settings.clients.get(client_id)
    secret = client.secret if client else UNKNOWN_CLIENT_SECRET
    expected = sign(secret, request.method, request.path, request.query_string.decode("latin-1"), body, timestamp, client_id)
    matches = signature_matches(expected, signature)
    if client is None:
        raise _refused(UnknownClient(NOT_VERIFIED), f"unknown client {client_id!r}")
    if not matches:
        raise _refused(SignatureInvalid(NOT_VERIFIED), "signature does not match the request (wrong secret, path, query or body)")
    changes_state = request.method not in SAFE_METHODS and not reading
    replay_only = False
    # Remembered for twice the window, so a replay is caught on either side of the server clock.
    if changes_state and not router.redis.set(keys.replay_guard(expected), f"{client_id} {time.time():.0f}", nx=True, ex=2 * window):
        # A repeat whose signed body carries client_order_id (and no unsigned Idempotency-Key header, which a replay
        # could change) may hear of the jobs that key already has; it can never place anything (Caller.replay_only).
        keyed = isinstance(body, dict) and isinstance(body.get("client_order_id"), str) and "Idempotency-Key" not in request.headers
        if not keyed:
            raise ReplayedRequest(REPLAYED.format(at=_first_received(router.redis, expected)))
        replay_only = True
    return Caller(
        client_id=client.client_id,
        scopes=tuple(client.scopes),
        accounts=client.accounts,
        source=request.remote_addr or "",
        default_wait=client.default_wait,
        replay_only=replay_only,
        old_protocol=client.old_protocol,
    )


def _first_received(connection: redis.Redis, signature: str) -> str:
    """ " at HH:MM:SS" (Shanghai) when the replayed signature was first accepted; "" when that is not known."""
    try:
        raw = connection.get(keys.replay_guard(signature))
        seconds = float((raw.decode() if isinstance(raw, bytes) else str(raw or "")).rsplit(" ", 1)[-1])
    except (ValueError, redis.RedisError):
        return ""
    return f" at {datetime.fromtimestamp(seconds, clock.SHANGHAI):%H:%M:%S} (Shanghai time)"


def current_caller(reading: bool = False) -> Caller:
    """The authenticated caller of this request (a logged-in user needs no signature).

    `reading`: the route only reads (the query POSTs /order, /orders), so a repeated identical
    request is not a replay: old clients repeat the same query within a second.
    """
    if "caller" not in g:
        user = session.get("user")
        role = session.get("role")
        if user and role in ROLE_SCOPES and _session_current():
            _same_origin()
            if session.get(PAGE_SESSION) and request.method not in SAFE_METHODS:
                csrf.check()  # a page's session: its state changes carry the CSRF token (api.csrf)
            page = bool(session.get(PAGE_SESSION))
            g.caller = Caller(
                client_id=f"user:{user}",
                scopes=ROLE_SCOPES[role],
                accounts=None,
                source=request.remote_addr or "",
                from_page=page,  # a page always names its account (common.desk.submission)
                # a script that logged in as the old server's clients did waits for the verdict; a page polls its jobs
                default_wait=0.0 if page else this_router().settings.LOGIN_CLIENT_DEFAULT_WAIT,
                old_protocol=not page,
            )
        else:
            g.caller = _verify_signature(reading)
        logs.add_context(client_id=g.caller.client_id)
    caller: Caller = g.caller  # g is untyped: name what it holds
    return caller


def logged_in_role() -> str | None:
    """The role (admin, trader) of this request's logged-in user, or None when no login session is in force."""
    role: str | None = session.get("role")  # the session is untyped: name what it holds
    if session.get("user") and role in ROLE_SCOPES and _session_current():
        return role
    return None


def _session_epoch(user: str) -> int:
    """The user's session epoch: a logout bumps it, and a cookie holding another value no longer authenticates."""
    epoch = cast("bytes | None", this_router().redis.get(keys.session_epoch(user)))  # redis-py types a sync answer as maybe Awaitable
    return int(epoch or 0)


def _session_current() -> bool:
    """Is the session cookie's login still in force: no logout of that user since, younger than SESSION_HOURS, and the
    user's password the one it logged in with (a changed password, or a user disabled by an empty one, ends it)?"""
    settings = this_router().settings
    try:
        logged_in_at = float(session.get("at", 0))
    except (TypeError, ValueError):
        return False
    if time.time() - logged_in_at > settings.SESSION_HOURS * 3600:
        return False
    if not hmac.compare_digest(str(session.get("pw", "")), _password_fingerprint(session["user"])):
        return False
    return session.get("epoch") == _session_epoch(session["user"])


def _password_fingerprint(user: str) -> str:
    """An HMAC of the user's password with the app's secret, kept in the session: never the password, and no match
    once the password changed or was emptied (the user disabled)."""
    settings = this_router().settings
    password = {"admin": settings.ADMIN_PASSWORD, "trader": settings.TRADER_PASSWORD}.get(user, "")
    if not password:
        return "disabled"
    return hmac.new(current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else bytes(current_app.secret_key or b""),
                    password.encode(), "sha256").hexdigest()[:32]  # fmt: skip


def _same_origin() -> None:
    """A cookie-authenticated state change must come from this site's own pages (besides SameSite=Strict)."""
    origin = request.headers.get("Origin")
    if request.method not in SAFE_METHODS and origin and urlsplit(origin).netloc != request.host:
        raise ScopeDenied(f"cross-site request from {origin} refused")


# -- web login ------------------------------------------------------------------------------------
bp = Blueprint("auth", __name__)
LOGIN_FAILURES = 10  # wrong passwords per user and address per LOGIN_WINDOW seconds; the next attempt is 429
LOGIN_WINDOW = 300
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _credentials() -> tuple[str, str]:
    """Username and password from a form or a JSON body; 422 names a missing field, any other body is 400."""
    if request.mimetype in FORM_TYPES:
        login = LoginRequest.model_validate({name: request.form[name] for name in ("username", "password") if name in request.form})
    elif request.mimetype == "application/json" or not request.get_data(cache=True).strip():
        login = LoginRequest.model_validate(request_body())
    else:
        raise InvalidRequest(f"send the login as JSON or a form, not {request.mimetype or 'a body without Content-Type'}", "body")
    return login.username, login.password


def _check_password(username: str, password: str) -> None:
    """Raise LoginFailed for a wrong password, LoginThrottled (with retry_after) past LOGIN_FAILURES in the window."""
    router = this_router()
    passwords = {"admin": router.settings.ADMIN_PASSWORD, "trader": router.settings.TRADER_PASSWORD}
    # Failures count per user and address: a guesser elsewhere (or behind the same proxy, see TRUSTED_PROXIES)
    # never locks a user out. Unknown names share one counter, so inventing names adds no keys.
    failures_key = keys.login_failures(username if username in passwords else "?", request.remote_addr or "-")
    # This attempt counts before the check and is forgotten on success, so parallel guesses get no more than the limit.
    counting = router.redis.pipeline()
    counting.set(failures_key, 0, ex=LOGIN_WINDOW, nx=True)
    counting.incr(failures_key)
    counting.ttl(failures_key)
    _, attempts, seconds_left = counting.execute()
    if attempts > LOGIN_FAILURES:
        retry_after = max(int(seconds_left), 1)
        raise LoginThrottled(f"too many login attempts failed for this user from this address; try again in {retry_after} s", retry_after=retry_after)
    expected = passwords.get(username, "")
    # compare even for an unknown user, so timing does not tell which usernames exist
    matches = hmac.compare_digest(expected.encode() or b"\0", password.encode())
    if not (expected and matches):
        log.warning("failed login for %r from %s", username, request.remote_addr)
        raise LoginFailed("wrong username or password")
    router.redis.delete(failures_key)


def _open_session(username: str, page: bool) -> None:
    session.clear()  # a fresh session (and CSRF secret) for every login
    session["user"] = username
    session["role"] = username
    session["epoch"] = _session_epoch(username)
    session["at"] = time.time()  # SESSION_HOURS counts from here, checked on every request (the cookie's own expiry is the browser's)
    session["pw"] = _password_fingerprint(username)
    session.permanent = True  # the cookie expires with PERMANENT_SESSION_LIFETIME (SESSION_HOURS) instead of living until the browser closes
    if page:
        session[PAGE_SESSION] = True
    log.info("login %s from %s%s", username, request.remote_addr, " (login page)" if page else "")


def _wants_page() -> bool:
    """A browser at the login page (its form carries the CSRF field, or it asks for HTML), not an SDK that reads JSON."""
    return request.mimetype in FORM_TYPES and (csrf.FIELD in request.form or "text/html" in request.headers.get("Accept", ""))


@bp.post("/login")
@documented(
    "Log in as admin or trader (form or JSON); the session cookie then authenticates the API. "
    "The login page's form (with its csrf_token) is answered with a redirect to the status page, or the page again with the reason",
    body=LoginRequest,
    answers={200: Done},
    errors=(400, 401, 422, 429),
    form=True,
)
def login() -> BaseResponse:
    if _wants_page():
        return _page_login()
    username, password = _credentials()
    _check_password(username, password)
    _open_session(username, page=False)
    return jsonify({"success": True})


def _page_login() -> BaseResponse:
    """The login page's form: to the status page on success, else the page again saying why (and when to try again)."""
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        csrf.check()  # no logging a browser in from another site's form
        if not (username and password):
            return login_form(_("Enter a username and a password."), 422, username)
        _check_password(username, password)
    except ScopeDenied:
        return login_form(_("The login form had expired. It has been reloaded: log in again."), 400, username)
    except LoginFailed:
        return login_form(_("Wrong username or password."), 401, username)
    except LoginThrottled as refusal:
        seconds = refusal.retry_after
        at = datetime.fromtimestamp(time.time() + seconds, clock.SHANGHAI)
        message = _(
            "Too many failed logins for this user from this address. Try again in %(wait)s (after %(at)s Beijing time).",
            wait=_duration(seconds),
            at=at.strftime("%H:%M:%S"),
        )
        response = login_form(message, 429, username)
        response.headers["Retry-After"] = str(seconds)
        return response
    _open_session(username, page=True)
    return redirect(url_for("pages.status"), 303)


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    said: str = _("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=rest) if minutes else _("%(seconds)s s", seconds=rest)
    return said


def login_form(message: str = "", status: int = 200, username: str = "") -> Response:
    """The login page, with `message` (why the last attempt failed, or that the user logged out)."""
    response = make_response(render_template("login.html", message=message, failed=status >= 400, username=username), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/logout")
@documented("Log out: every session cookie of this user stops authenticating (a browser is sent to the login page)", answers={200: Done}, errors=())
def logout() -> BaseResponse:
    # The cookie is signed, not stored: bumping the epoch is what ends it, even for a copy kept elsewhere.
    if logged_in_role():
        this_router().redis.incr(keys.session_epoch(session["user"]))
    session.clear()
    if "text/html" in request.headers.get("Accept", ""):
        return redirect(url_for("pages.login_page", out=1), 303)
    return jsonify({"success": True})
