"""The one access table: for every route of the app, who may call it, the scope it needs, whether the replay guard
applies, and which accounts it reaches. Every request is authenticated from here (`register`), before its route runs.

A route the table does not name is refused (403): a new route is closed until someone writes its rule, and a test
walks the URL map against this table. docs/security.md carries the table as `markdown()` renders it (a test checks).

- scope None: no authentication here (public, or a page that sends a visitor without a login to the login page);
- `replay`: every state change is guarded: a signature accepted once inside the window is refused the second time
  (reads never are: old clients repeat identical queries within a second);
- `any_of`: the kill switch: anyone who may trade may throw it, admins release it (the Desk decides which).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request

from api import auth
from common.rules.exceptions import InvalidRequest, ScopeDenied

JSON_TYPES = ("application/json", "text/plain", "")  # what an API body may be declared as (old clients send JSON, some with text/plain or none)


@dataclass(frozen=True)
class Rule:
    """Who may call a route and what it reaches."""

    scope: str | None  # trade, cancel, query, admin; None: no authentication here
    replay: bool  # the replay guard applies (every state change)
    reaches: str  # which accounts it reaches, in words
    who: str = ""  # for routes with no scope: who calls it
    any_of: tuple[str, ...] = ()  # instead of `scope`: any of these scopes
    json_body: bool = True  # its body, when it has one, is JSON

    def describe_who(self) -> str:
        if self.scope is None and not self.any_of:
            return self.who
        scopes = " or ".join(self.any_of or (self.scope or "",))
        return f"signed clients and logged-in users with {scopes}"


def _order(reaches: str = "trader_index in the body, else every account the caller may use") -> Rule:
    return Rule("trade", True, reaches)


def _read(reaches: str) -> Rule:
    return Rule("query", False, reaches)


PUBLIC = "anyone"
PAGE = "a logged-in user (else the login page)"
OWN = "the caller's own accounts"

TABLE: dict[str, Rule] = {
    # orders and cancels: state changes, each guarded
    "trade_api.trade": _order("trader_index in the body (percent orders without it: every account the caller may use)"),
    "trade_api.buy": _order(),
    "trade_api.sell": _order(),
    "trade_api.outer_trade": _order(),
    "trade_api.allin": _order(),
    "trade_api.nhg": _order(),
    # an order's preview: only reads (the quote, the account's cash or holding), so a repeat is never a replay
    "trade_api.preview_trade": Rule("trade", False, "trader_index in the body (required)"),
    "trade_api.preview_allin": Rule("trade", False, "trader_index in the body (required)"),
    "trade_api.preview_nhg": Rule("trade", False, "trader_index in the body (required)"),
    "trade_api.cancel_order": Rule("cancel", True, "trader_index in the body"),
    "trade_api.cancel_side": Rule("cancel", True, "trader_index in the body, else every account the caller may use (a page must name one)"),
    # risk, routines, the simulator's day: state changes of admins (the kill switch: anyone who may trade throws it)
    "risk_api.put_risk": Rule("admin", True, "every account (the limits are the router's)"),
    "risk_api.kill_switch": Rule(
        None, True, "stops every account's new orders; its cancels: the caller's own accounts, with the cancel scope", any_of=("trade", "admin")
    ),
    "routines_api.replace_routines": Rule("admin", True, "the accounts each routine names"),
    "routines_api.run_now": Rule("admin", True, "the accounts the routine names"),
    "sim_api.next_day": Rule("admin", True, "every simulator account"),
    # reads: never refused as replays
    "risk_api.get_risk": Rule("admin", False, f"counts of {OWN}"),
    "risk_api.kill_switch_state": _read("none (whether the switch is on)"),
    "routines_api.list_routines": _read("routines acting on the caller's own accounts alone"),
    "query_api.accounts": _read(OWN),
    "query_api.portfolio": _read("trader_index in the path"),
    "query_api.positions": _read("trader_index in the path"),
    "query_api.trades": _read("trader_index in the path"),
    "query_api.order": _read("trader_index in the body"),
    "query_api.orders": _read("trader_index in the body"),
    "jobs.get_job": _read("the caller's own jobs (admins and logged-in users: every job)"),
    "jobs.recent_jobs": _read("the caller's own jobs (admins and logged-in users: every job)"),
    "events_api.list_events": _read(f"events of {OWN} and the system's; account numbers masked"),
    # no authentication here
    "auth.login": Rule(None, False, "none", who="anyone (the password decides; 10 failures per user and address lock it for 5 min)", json_body=False),
    "auth.logout": Rule(None, False, "none", who="anyone (ends the caller's own sessions)"),
    "health.health": Rule(None, False, "connection state of every account, numbers masked", who=PUBLIC),
    "probes.healthz": Rule(None, False, "none", who=PUBLIC),
    "probes.readyz": Rule(None, False, "none", who=PUBLIC),
    "metrics.scrape": Rule(None, False, "sums over every account, no account numbers", who=PUBLIC),
    "openapi.openapi_json": Rule(None, False, "none", who=PUBLIC),
    "pages.login_page": Rule(None, False, "none", who=PUBLIC),
    "pages.status": Rule(None, False, "what the logged-in user's API calls reach", who=PAGE),
    "pages.trade": Rule(None, False, "what the logged-in user's API calls reach", who=PAGE),
    "pages.config": Rule(None, False, "what the logged-in user's API calls reach", who=PAGE),
    "pages.job": Rule(None, False, "what the logged-in user's API calls reach", who=PAGE),
    "assets.asset": Rule(None, False, "none", who=PUBLIC),
    "assets.favicon": Rule(None, False, "none", who=PUBLIC),
    "i18n.switch": Rule(None, False, "none (sets the pages' language cookie)", who=PUBLIC),
}


def rule_of(endpoint: str | None) -> Rule | None:
    return TABLE.get(endpoint or "")


def register(app: Flask) -> None:
    """Authenticate every request from the table before its route runs; refuse a route the table does not name."""

    @app.before_request
    def _authenticate() -> None:
        if request.endpoint is None:
            return  # no such route: Flask answers 404 (or 405)
        rule = rule_of(request.endpoint)
        if rule is None:
            raise ScopeDenied(f"{request.method} {request.path} has no access rule: refused until one is written")
        if rule.json_body and request.method not in auth.SAFE_METHODS:
            _json_declared()
        if rule.scope is None and not rule.any_of:
            return
        caller = auth.current_caller(reading=not rule.replay)
        if rule.any_of:
            if not any(scope in caller.scopes for scope in rule.any_of):
                caller.require(rule.any_of[0])
        else:
            caller.require(rule.scope or "")


def _json_declared() -> None:
    """A body declared as anything but JSON is refused before anything reads it: a form read by the CSRF check would
    leave the route an empty body, and a missing trader_index must never mean "every account"."""
    if request.content_length == 0 or (request.content_length is None and not request.headers.get("Transfer-Encoding")):
        return
    if request.mimetype not in JSON_TYPES:
        raise InvalidRequest(f"send the body as JSON (Content-Type: application/json), not {request.mimetype}", "body")


def markdown(app: Flask) -> str:
    """The access table as docs/security.md carries it: one row per route and method, in URL order."""
    lines = ["| route | method | who may call it | scope | replay guard | accounts it reaches |", "|---|---|---|---|---|---|"]
    for url_rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        rule = rule_of(url_rule.endpoint)
        if rule is None:
            continue
        scope = " or ".join(rule.any_of) if rule.any_of else rule.scope or "-"
        for method in sorted((url_rule.methods or set()) - {"HEAD", "OPTIONS"}):
            lines.append(f"| `{url_rule.rule}` | {method} | {rule.describe_who()} | {scope} | {'yes' if rule.replay else 'no'} | {rule.reaches} |")
    return "\n".join(lines) + "\n"
