"""GET /metrics: the router's figures in Prometheus' text format, and every request counted by route and status.

Unauthenticated, like /health (Prometheus does not sign requests) and free of secrets: account numbers
are masked. Any web process answers for the whole router: the figures are summed in Redis
(common.store.metrics, common.store.exposition); this process first adds its own latest counts, so its scrape
includes the requests it answered until now.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from api import router
from common.store import exposition, metrics

bp = Blueprint("metrics", __name__)
UNMATCHED = "unmatched"  # a path no route serves: one label value, so scanners cannot grow the series without end
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other method a client invents counts as "other"


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def _count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        metrics.count(router().redis, metrics.HTTP_REQUESTS, method=method, route=route, status=str(response.status_code))
        return response


@bp.get("/metrics")
def scrape() -> Response:
    connection = router().redis
    metrics.flush(connection)
    return Response(exposition.render(connection, router().settings), mimetype=None, content_type=exposition.CONTENT_TYPE)
