"""Per request, the log context (common.config.logs): method, path and route on every line, and the client once authenticated."""

from __future__ import annotations

from flask import Flask, request

from common.config import logs


def register(app: Flask) -> None:
    @app.before_request
    def _enter() -> None:
        route = request.url_rule.rule if request.url_rule is not None else None
        logs.set_context(method=request.method, path=request.path[:200], route=route)

    @app.teardown_request
    def _leave(_error: BaseException | None) -> None:
        logs.clear_context()  # waitress reuses the thread for the next request
