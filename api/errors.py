"""The one mapping from domain errors to HTTP answers: {"success": false, "error": "..."}."""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, g, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from common.rules import exceptions as ex

log = logging.getLogger("api.errors")

STATUS_BY_ERROR: tuple[tuple[type[ex.RouterError], int], ...] = (
    (ex.InvalidRequest, 400),
    (ex.AuthError, 401),
    (ex.ScopeDenied, 403),
    (ex.UnknownAccount, 404),
    (ex.JobNotFound, 404),
    (ex.OrderNotFound, 404),
    (ex.SimulatorOnly, 404),
    (ex.UnknownRoutine, 404),
    (ex.RoutineAlreadyRan, 409),
    (ex.InvalidRoutine, 422),
    (ex.CursorTooOld, 410),
    (ex.InvalidSymbol, 422),
    (ex.LotSizeViolation, 422),
    (ex.InvalidPrice, 422),
    (ex.PriceTypeUnsupported, 422),
    (ex.InvalidIdempotencyKey, 422),
    (ex.InvalidOrderSide, 422),
    (ex.IdempotencyConflict, 409),
    (ex.TradingHalted, 423),
    (ex.RateLimited, 429),
    (ex.LoginThrottled, 429),
    (ex.RiskRejected, 403),
    (ex.StoreUnavailable, 503),
    (ex.JobUnconfirmed, 503),  # a replica has not confirmed it: told once one has
    (ex.NoQuote, 503),  # the order cannot be priced until the worker has read a quote: refused, never guessed
    (ex.BrokerUnavailable, 503),
)


def status_of(error: ex.RouterError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def error_response(message: str, status: int, **extra: object) -> Response:
    response = jsonify({"success": False, "error": message, **extra})
    response.status_code = status
    return response


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    found = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        found.append({"field": field, "message": message})
    return found


def register(app: Flask) -> None:
    @app.errorhandler(ex.RouterError)
    def _domain(error: ex.RouterError) -> Response:
        status = status_of(error)
        if isinstance(error, ex.StoreUnavailable):
            g.store_unavailable = True  # the audit hook then skips Redis rather than wait out another timeout
        extra = {"field": error.field} if error.field else {}
        response = error_response(error.message, status, **extra, **error.details)
        if "retry_after" in error.details:  # seconds, e.g. a login lockout's
            response.headers["Retry-After"] = str(error.details["retry_after"])
        return response

    @app.errorhandler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        fields = _field_errors(error)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return error_response(summary, 422, field=fields[0]["field"] if fields else None, errors=fields)

    @app.errorhandler(redis.RedisError)
    def _store(error: redis.RedisError) -> Response:
        log.error("Redis unavailable: %s", error.__class__.__name__)
        g.store_unavailable = True
        return error_response("the job store (Redis) is unavailable; nothing was queued, try again shortly", 503)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return error_response(error.description or error.name, error.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:  # noqa: ARG001 - Flask passes the error; log.exception reads it from sys.exc_info
        log.exception("unhandled error")
        return error_response("internal error", 500)
