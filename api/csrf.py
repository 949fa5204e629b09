"""The CSRF rule of the web pages: a state change by a browser the login page logged in must carry the session's token.

Three locks keep another site's page from acting with a logged-in cookie: SameSite=Strict (the browser
does not send the cookie cross-site), the Origin check (api.auth), and this token, for the browser or
proxy that drops both. Flask-WTF's CSRFProtect keeps the token (a secret in the signed session cookie)
and checks it, taken from the form field `csrf_token` or the header `X-CSRFToken`, which the pages'
fetch calls copy from `<meta name="csrf-token">` (templates/base.html).

Who needs no token: signed clients (HMAC headers: no cookie, nothing a browser could forge), and a
session opened by the JSON (or token-less form) login of the old SDKs, which no page makes: only the
login page's form marks a session as a page's (api.auth `PAGE_SESSION`), and that mark is what demands it.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFError, CSRFProtect

from common.rules.exceptions import ScopeDenied

FIELD = "csrf_token"  # the forms' hidden field (Flask-WTF's default name)
protection = CSRFProtect()


def register(app: Flask) -> None:
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # checked where a session authenticates a state change (api.auth), not on every POST
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the login: a status page left open all day can still throw the kill switch
    )
    protection.init_app(app)


def check() -> None:
    """Refuse (403) a state-changing request that lacks this session's CSRF token."""
    try:
        protection.protect()
    except CSRFError as refusal:
        raise ScopeDenied(f"CSRF token refused ({refusal.description}); reload the page and try again", "csrf_token") from None
