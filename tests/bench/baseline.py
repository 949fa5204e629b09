"""The baselines the router is measured against: a bare Flask app and a bare RQ worker, as processes.

    python -m tests.bench.baseline web      a waitress server with the router's own settings (api.server.options):
                                            POST /qmt/trade/api/trade answers 202 with a small JSON body (no Redis);
                                            POST /bare/enqueue enqueues a no-op RQ job and answers 202 with its id
    python -m tests.bench.baseline worker   a plain RQ SimpleWorker on the no-op queue

Both read REDIS_URL and FLASK_PORT from the environment, as the roles do.
"""

from __future__ import annotations

import os
import sys

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

QUEUE = "bench-noop"
ENQUEUE = "/bare/enqueue"
TRADE = "/qmt/trade/api/trade"
RESULT_TTL = 3600


def noop() -> None:
    """The baseline job: does nothing."""


def noop_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=connection, serializer=JSONSerializer)


def bare_app(connection: redis.Redis):
    from flask import Flask, jsonify

    app = Flask("bare")
    queue = noop_queue(connection)

    @app.post(TRADE)
    def accepted():
        response = jsonify({"success": True, "job_id": "o0000000000000000", "status": "queued"})
        response.status_code = 202
        return response

    @app.post(ENQUEUE)
    def enqueued():
        job = queue.enqueue_call("tests.bench.baseline.noop", result_ttl=RESULT_TTL)
        response = jsonify({"success": True, "job_id": job.id, "status": "queued"})
        response.status_code = 202
        return response

    @app.get("/health")
    def health():
        return jsonify({"ok": True})

    return app


def main() -> int:
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    if sys.argv[1:2] == ["worker"]:
        SimpleWorker([noop_queue(connection)], connection=connection, serializer=JSONSerializer).work(logging_level="WARNING")
        return 0
    from waitress import serve

    from api.server import options as server_options
    from tests.support import make_settings

    serve(bare_app(connection), host="127.0.0.1", port=int(os.environ["FLASK_PORT"]), **server_options(make_settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
