"""Domain errors, raised where the fact is known and mapped to HTTP in one place (api.errors)."""

from __future__ import annotations


class RouterError(Exception):
    """Base of every domain error; `field` names the request field at fault, when there is one.

    `details` are extra fields of the error answer, e.g. the job ids a client can still poll.
    """

    def __init__(self, message: str, field: str | None = None, **details: object):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidRequest(RouterError):
    """A request that cannot be read: a body that is not JSON, a parameter that is not a number (HTTP 400)."""


class ConfigError(RouterError):
    """A configuration value is malformed; start-up stops with this message."""


class InvalidSymbol(RouterError):
    """A symbol that is not a tradable A-share, fund, bond or repo code."""


class LotSizeViolation(RouterError):
    """A volume that breaks the board's lot, minimum, step or per-order maximum."""


class InvalidPrice(RouterError):
    """A price that is missing, off the tick, or outside what the order type allows."""


class PriceTypeUnsupported(RouterError):
    """A price type that the symbol's exchange does not accept."""


class UnknownAccount(RouterError):
    """A trader_index that selects no enabled account."""


class AuthError(RouterError):
    """Base of authentication failures (HTTP 401)."""


class UnknownClient(AuthError):
    pass


class SignatureMissing(AuthError):
    pass


class SignatureExpired(AuthError):
    pass


class SignatureInvalid(AuthError):
    pass


class ReplayedRequest(AuthError):
    pass


class LoginFailed(AuthError):
    """A wrong username or password (the answer never says which)."""


class LoginThrottled(RouterError):
    """Too many login attempts from one address (HTTP 429); `retry_after` seconds until the next may be tried."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class ScopeDenied(RouterError):
    """The client is authenticated but may not do this (HTTP 403)."""


class JobNotFound(RouterError):
    """No job with this id exists (or it has aged out)."""


class SimulatorOnly(RouterError):
    """Asked of the simulator while the worker trades through real QMT (HTTP 404: the route exists only with BROKER=sim)."""


class UnknownRoutine(RouterError):
    """No scheduled routine has this name (HTTP 404)."""


class InvalidRoutine(RouterError):
    """A routine definition that cannot be kept: e.g. two routines with one name (HTTP 422)."""


class RoutineAlreadyRan(RouterError):
    """The routine already ran on this trading day; run it again only with force (HTTP 409)."""


class CursorTooOld(RouterError):
    """An event cursor older than the oldest event kept: events after it may be gone (HTTP 410, with the oldest id)."""


class OrderNotFound(RouterError):
    """No order with this id today on the account (HTTP 404)."""


class UnknownJobFunction(RouterError):
    """A queued job names a function this worker does not run (queued by another version): it fails, never silently."""


class BrokerUnavailable(RouterError):
    """The broker session is not connected or did not answer in time."""


class BrokerTimeout(BrokerUnavailable):
    """A broker call did not answer in time: whether it took effect is unknown until checked."""


class OrderRefused(RouterError):
    """The broker refused an order outright (xtquant's order_stock answered -1): nothing was placed."""


class CancelRefused(RouterError):
    """The broker refused to cancel an order (xtquant's cancel_order_stock answered a non-zero code)."""

    def __init__(self, order_id: int, code: int):
        super().__init__(f"the broker refused to cancel order {order_id} (code {code})", "order_id")
        self.order_id = order_id
        self.code = code


class StoreUnavailable(RouterError):
    """Redis did not answer."""


class EnqueueUnanswered(StoreUnavailable):
    """Redis went silent while a job was being queued: whether it was queued is unknown (HTTP 503).

    `details["job_id"]` is the id the job has if it was queued: polling it, or retrying with the same
    idempotency key, is safe; a retry without a key may place the order twice. `details["job_ids"]`,
    for a fan-out, names every job of it: all of them were queued, or none.
    """


class JobUnconfirmed(RouterError):
    """Redis has the job as it told, but no replica confirmed it within REDIS_WAIT_MS, so a failover now could still take
    it back (a job said queued, then lost; an end said, then run again): not told (HTTP 503, `details["job_id"]` to poll)."""


class WorkerUnanswered(BrokerUnavailable):
    """A query job did not end in time or failed in the worker: `details["job_id"]` can be polled (HTTP 503)."""


class SizeRoundsToZero(RouterError):
    """A sized order (position_pct, all-in, repo sweep) rounds down to no legal volume: nothing is sent."""


class NoQuote(RouterError):
    """A market-style or sized order needs a quote (the price, or the day's upper limit) the router does not have (HTTP 503)."""


class DuplicateJob(RouterError):
    """A job with this id exists already (an idempotent retry, or a conflicting reuse of its key)."""

    def __init__(self, job_id: str, fingerprint: str | None):
        super().__init__(f"job {job_id} exists already")
        self.job_id = job_id
        self.fingerprint = fingerprint


class IdempotencyConflict(RouterError):
    """The idempotency key was used before with a different request (HTTP 409)."""


class InvalidIdempotencyKey(RouterError):
    """A malformed Idempotency-Key header or client_order_id (HTTP 422)."""


class RiskRejected(RouterError):
    """An order the risk limits forbid: a blocked symbol, a notional over the cap (HTTP 403)."""


class RateLimited(RiskRejected):
    """Past an account's per-second or daily cap of orders and cancels (HTTP 429)."""


class PriceTooFar(RiskRejected):
    """A limit price further from the latest quote than MAX_PRICE_DEVIATION_PCT (a fat finger): never sent."""


class TradingHalted(RiskRejected):
    """The kill switch is on: no new orders; cancels still run (HTTP 423)."""


class InvalidOrderSide(RouterError):
    """A side the instrument cannot take, e.g. buying reverse repo (retail lends with a SELL)."""


class NotificationFailed(RouterError):
    """DingTalk did not accept a message (HTTP error, errcode != 0, timeout): it is sent again later, never dropped."""
