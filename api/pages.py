"""The web pages: status (anyone logged in), trading (trade scope), config (admins), a job's detail, and the login form.

The pages are HTML shells (templates/) and a little JavaScript (static/): everything they show or do
goes through the JSON API with the browser's session cookie and the CSRF token (api.csrf), so there
is no second way to place an order. These views only decide who may see which page.
"""

from __future__ import annotations

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers.response import Response as BaseResponse  # what redirect() answers; flask's Response is one

from api import router
from api.auth import ROLE_SCOPES, logged_in_role, login_form
from common.rules.masking import mask_account
from common.rules.symbols import price_decimals

bp = Blueprint("pages", __name__)
# the words a page shows for a role and for the scope a refused page needs
ROLE_NAMES = {"admin": lazy_gettext("admin"), "trader": lazy_gettext("trader"), "trade": lazy_gettext("trade")}


def _page(template: str, role: str, status: int = 200, **context: object) -> Response:
    accounts = [
        {"index": index, "name": account.nick_name or f"#{index}", "account": mask_account(account.account_id)}
        for index, account in enumerate(router().settings.enabled_accounts)
    ]
    scopes = ROLE_SCOPES[role]
    response = make_response(
        render_template(
            template,
            price_decimals=price_decimals(),
            role=role,
            role_name=ROLE_NAMES.get(role, role),
            can_trade="trade" in scopes,
            is_admin="admin" in scopes,
            accounts=accounts,
            **context,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"  # a page shows one user's view of live state
    return response


def _login_first() -> BaseResponse:
    return redirect(url_for("pages.login_page"), 303)


@bp.get("/login")
def login_page() -> BaseResponse:
    if logged_in_role():
        return redirect(url_for("pages.status"), 303)
    return login_form(_("You are logged out.") if request.args.get("out") else "")


@bp.get("/")
def status() -> BaseResponse:
    role = logged_in_role()
    if role is None:
        return _login_first()
    return _page("status.html", role, page="status")


@bp.get("/trade")
def trade() -> BaseResponse:
    role = logged_in_role()
    if role is None:
        return _login_first()
    if "trade" not in ROLE_SCOPES[role]:
        return _page("refused.html", role, 403, page="trade", needed_name=ROLE_NAMES["trade"])
    return _page("trade.html", role, page="trade")


@bp.get("/config")
def config() -> BaseResponse:
    role = logged_in_role()
    if role is None:
        return _login_first()
    if "admin" not in ROLE_SCOPES[role]:
        return _page("refused.html", role, 403, page="config", needed_name=ROLE_NAMES["admin"])
    return _page("config.html", role, page="config")


@bp.get("/job/<job_id>")
def job(job_id: str) -> BaseResponse:
    role = logged_in_role()
    if role is None:
        return _login_first()
    return _page("job.html", role, page="job", job_id=job_id)
