"""GET /healthz and /readyz: is this web process alive, and can it take work? For load balancers and orchestrators.

`/healthz` answers 200 as long as the process serves HTTP; it touches nothing else, so a restart is never
ordered because Redis or the broker is away. `/readyz` answers 200 when this process can take work —
Redis answers within common.store.connections.PROBE_TIMEOUT and the settings let someone in — and 503 with the
failing reasons otherwise. Neither depends on the worker or on QMT: orders are queued while the worker is
away (they wait until their ORDER_TTL), and whether the router can trade is /qmt/trade/api/health's
verdict, not a reason to take this process out of a load balancer.
"""

from __future__ import annotations

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify

from api import router
from api.openapi import documented
from api.schemas import LivenessAnswer, ReadinessAnswer
from common.config.settings import Settings

bp = Blueprint("probes", __name__)


def register(app: Flask, probe: redis.Redis) -> None:
    """The probes, with the Redis client readiness pings (short timeouts: common.store.connections.probe_connection)."""
    app.extensions["readiness_probe"] = probe
    app.register_blueprint(bp)


@bp.get("/healthz")
@documented(
    "Liveness of this web process: answers while it serves HTTP, whatever Redis, the worker or QMT do", answers={200: LivenessAnswer}, errors=()
)
def healthz() -> Response:
    return jsonify({"success": True, "alive": True})


@bp.get("/readyz")
@documented(
    "Readiness of this web process: Redis answers and the settings let someone in (503 with the reasons); never the worker or QMT",
    answers={200: ReadinessAnswer, 503: ReadinessAnswer},
    errors=(),
)
def readyz() -> Response:
    reasons = settings_problems(router().settings)
    try:
        probe: redis.Redis = current_app.extensions["readiness_probe"]
        probe.ping()
    except redis.RedisError as error:
        reasons.insert(0, f"Redis does not answer ({error.__class__.__name__}): nothing can be queued")
    response = jsonify({"success": not reasons, "ready": not reasons, "reasons": reasons})
    response.status_code = 503 if reasons else 200
    return response


def settings_problems(settings: Settings) -> list[str]:
    """What in the settings keeps this process from taking any work (start-up already refused malformed values)."""
    problems = []
    if not settings.enabled_accounts:
        problems.append("TRADER_CONFIGS has no enabled account: there is nothing to trade")
    if not settings.clients and not (settings.ADMIN_PASSWORD or settings.TRADER_PASSWORD):
        problems.append("no signing client (QMT_CLIENT_*, OUTER_CLIENT_*, API_CLIENTS) and no web password: nobody can get in")
    return problems
