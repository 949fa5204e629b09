"""The baselines the router is measured against: a bare Flask app and a bare RQ worker, as processes.

    python -m tests.bench.baseline web      a waitress server with the router's own settings (api.server.options):
                                            POST /bare/enqueue stores a no-op RQ job (RQ's enqueue_call; its meta holds
                                            the moment the handler was entered) and answers 202 with its id; POST /bare/basket stores a job that places the body's
                                            order at the simulator, the same way
    python -m tests.bench.baseline worker   a plain RQ SimpleWorker on the no-op queue and the simulator's queue: its
                                            order job calls the simulator's order_stock and waits for its answer,
                                            one order after another (the sequential floor)

Both read REDIS_URL and FLASK_PORT (and the simulator's SIM_* settings and VAR_DIR) from the environment, as the roles do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

QUEUE = "bench-noop"
SIM_QUEUE = "bench-sim"
ENQUEUE = "/bare/enqueue"
BASKET = "/bare/basket"
RESULT_TTL = 3600
_trader: Any = None  # the bare worker's simulator session, opened at its first order


def noop() -> None:
    """The baseline job: does nothing."""


def sim_order(symbol: str, volume: int, price: float, remark: str) -> dict:
    """The baseline order job: the simulator's order_stock, waited for, as a worker sending one order at a time does."""
    from worker.xtquant_sdk import xttype

    order_id = _trader.order_stock(xttype.StockAccount("SIM000001"), symbol, 23, volume, 11, price, "", remark)
    return {"order_id": order_id, "accepted_at": time.time()}


def _open_trader() -> None:
    """The bare worker's simulator session, opened before it takes jobs (as the router's worker opens its own)."""
    global _trader
    from worker.sim import SimTrader
    from worker.xtquant_sdk import xttype

    folder = Path(os.environ["VAR_DIR"]) / "sim-bare"
    _trader = SimTrader(str(folder), 1, None, prices_file=os.environ.get("SIM_PRICES_FILE") or None, starting_cash=1e9,
                        call_ms=os.environ.get("SIM_CALL_MS", "0"), call_concurrency=int(os.environ.get("SIM_CALL_CONCURRENCY", "1")))  # fmt: skip
    _trader.start()
    _trader.connect()
    _trader.subscribe(xttype.StockAccount("SIM000001"))


def noop_queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=connection, serializer=JSONSerializer)


def bare_app(connection: redis.Redis):
    from flask import Flask, jsonify, request

    app = Flask("bare")
    queue = noop_queue(connection)

    sims = Queue(SIM_QUEUE, connection=connection, serializer=JSONSerializer)

    @app.post(BASKET)
    def basket():
        body = request.get_json()
        code = f"{body['symbol']}.SH"
        job = sims.enqueue_call(
            "tests.bench.baseline.sim_order", args=(code, body["volume"], body["price"], body["strategy_name"]), result_ttl=RESULT_TTL
        )
        response = jsonify({"success": True, "job_id": job.id, "status": "queued"})
        response.status_code = 202
        return response

    @app.post(ENQUEUE)
    def enqueued():
        received = time.time()  # the request received, stored with the job: the latency figure counts from it
        job = queue.enqueue_call("tests.bench.baseline.noop", result_ttl=RESULT_TTL, meta={"received": received})
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
        from tests.bench import baseline  # the module RQ imports the job from (this one runs as __main__)

        baseline._open_trader()  # noqa: SLF001 - this module's own
        queues = [noop_queue(connection), Queue(SIM_QUEUE, connection=connection, serializer=JSONSerializer)]
        SimpleWorker(queues, connection=connection, serializer=JSONSerializer).work(logging_level="WARNING")
        return 0
    from waitress import serve

    from api.server import options as server_options
    from common.config.settings import load_settings

    # the server settings `python -m api` takes from the same environment
    serve(bare_app(connection), host="127.0.0.1", port=int(os.environ["FLASK_PORT"]), **server_options(load_settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
