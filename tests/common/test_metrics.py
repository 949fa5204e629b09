"""Counters and histograms counted in memory, summed in Redis, and read back as Prometheus' text."""

from __future__ import annotations

import json
import time

import fakeredis
import redis
from prometheus_client.parser import text_string_to_metric_families

from common.config import clock
from common.rules import risk
from common.store import exposition, keys, metrics, risk_state, tradability
from tests.support import make_settings


def families(text: bytes) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def samples(family, name: str, **labels: str) -> list[float]:
    return [s.value for s in family.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_counts_from_two_processes_add_up_in_redis_and_histograms_are_cumulative(fake_redis):
    web_one, web_two = fake_redis, fakeredis.FakeRedis(server=fake_redis.connection_pool.connection_kwargs["server"])
    metrics.count(web_one, metrics.HTTP_REQUESTS, method="POST", route="/qmt/trade/api/trade", status="202")
    metrics.count(web_two, metrics.HTTP_REQUESTS, method="POST", route="/qmt/trade/api/trade", status="202")
    for seconds in (0.004, 0.02, 0.02, 3.0, 120.0):
        metrics.observe(web_two, metrics.ORDER_TO_RESULT, seconds)
    assert fake_redis.keys("qmt:metrics:*") == []  # nothing written until a flush
    assert metrics.flush(web_one) and metrics.flush(web_two)
    found = families(exposition.render(fake_redis, make_settings()))
    assert samples(found["qmt_http_requests"], "qmt_http_requests_total", route="/qmt/trade/api/trade", status="202") == [2.0]
    latency = found["qmt_order_accepted_to_result_seconds"]
    assert samples(latency, "qmt_order_accepted_to_result_seconds_count") == [5.0]
    assert samples(latency, "qmt_order_accepted_to_result_seconds_bucket", le="0.005") == [1.0]
    assert samples(latency, "qmt_order_accepted_to_result_seconds_bucket", le="0.025") == [3.0]
    assert samples(latency, "qmt_order_accepted_to_result_seconds_bucket", le="60.0") == [4.0]
    assert samples(latency, "qmt_order_accepted_to_result_seconds_bucket", le="+Inf") == [5.0]
    assert abs(samples(latency, "qmt_order_accepted_to_result_seconds_sum")[0] - 123.044) < 1e-6
    assert samples(found["qmt_order_accepted_to_broker_seconds"], "qmt_order_accepted_to_broker_seconds_count") == [0.0]


def unreachable() -> redis.Redis:
    server = fakeredis.FakeServer(version=(7, 0))
    server.connected = False  # every command raises ConnectionError, as a stopped Redis does
    return fakeredis.FakeRedis(server=server)


def test_a_flush_redis_refuses_is_kept_for_the_next():
    down = unreachable()
    metrics.count(down, metrics.JOBS, kind="order", outcome="submitted")
    assert not metrics.flush(down)
    metrics.count(down, metrics.JOBS, kind="order", outcome="submitted")
    with metrics._lock:  # noqa: SLF001 - the counts a failed flush kept are private to the module
        assert list(metrics._pending[down].values()) == [2]  # noqa: SLF001 - as above


def test_gauges_the_verdict_and_dingtalk_are_read_at_scrape_time(fake_redis):
    settings = make_settings()
    fake_redis.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time() - 3})
    fake_redis.hset(keys.broker_connection(0), "connected", "1")
    fake_redis.hset(keys.broker_connection(1), "connected", "0")
    metrics.dingtalk_posted(fake_redis, True)
    metrics.dingtalk_posted(fake_redis, True)
    metrics.dingtalk_posted(fake_redis, False)
    metrics.dingtalk_waiting(fake_redis, 4)
    found = families(exposition.render(fake_redis, settings))
    assert samples(found["qmt_redis_up"], "qmt_redis_up") == [1.0]
    assert 2.5 < samples(found["qmt_worker_heartbeat_age_seconds"], "qmt_worker_heartbeat_age_seconds")[0] < 10
    assert samples(found["qmt_scheduler_heartbeat_age_seconds"], "qmt_scheduler_heartbeat_age_seconds") == [float("inf")]
    assert samples(found["qmt_broker_connected"], "qmt_broker_connected", account_index="0", account="SIM***001") == [1.0]
    assert samples(found["qmt_broker_connected"], "qmt_broker_connected", account_index="1") == [0.0]
    assert samples(found["qmt_queue_depth"], "qmt_queue_depth", queue="order") == [0.0]
    assert samples(found["qmt_dingtalk_messages"], "qmt_dingtalk_messages_total", outcome="sent") == [2.0]
    assert samples(found["qmt_dingtalk_messages"], "qmt_dingtalk_messages_total", outcome="failed") == [1.0]
    assert samples(found["qmt_dingtalk_queued"], "qmt_dingtalk_queued") == [4.0]
    assert samples(found["qmt_can_trade"], "qmt_can_trade") == [0.0]
    assert b"SIM000001" not in exposition.render(fake_redis, settings)


def test_no_redis_is_one_line_saying_so():
    found = families(exposition.render(unreachable(), make_settings()))
    assert list(found) == ["qmt_redis_up"] and samples(found["qmt_redis_up"], "qmt_redis_up") == [0.0]


def test_the_verdict_names_every_condition_that_fails(fake_redis):
    settings = make_settings()
    verdict = tradability.judge(fake_redis, settings)
    assert not verdict.can_trade
    assert verdict.reasons[0].startswith("no worker heartbeat")
    assert "account 0 (SIM***001) is not connected to the broker" in verdict.reasons
    assert any("calendar's verdict on today" in reason for reason in verdict.reasons)

    fake_redis.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time() - 14})
    for index in (0, 1):
        fake_redis.hset(keys.broker_connection(index), "connected", "1")
    fake_redis.set(keys.CALENDAR_STATUS, json.dumps({"today": clock.today().isoformat(), "session": True}))
    risk_state.save(fake_redis, risk.RiskLimits(kill_switch=True))
    assert tradability.judge(fake_redis, settings).reasons == ["worker heartbeat is 14 s old (stale after 6 s)", "the kill switch is on"]

    fake_redis.hset(keys.WORKER_HEARTBEAT, mapping={"ts": time.time()})
    risk_state.save(fake_redis, risk.RiskLimits())
    assert tradability.judge(fake_redis, settings) == tradability.Verdict(can_trade=True, reasons=[])
    fake_redis.set(keys.CALENDAR_STATUS, json.dumps({"today": clock.today().isoformat(), "session": None}))
    assert "does not know whether today" in tradability.judge(fake_redis, settings).reasons[0]


def test_the_grafana_dashboard_asks_only_for_series_metrics_serves(fake_redis):
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    asked = {name for panel in dashboard["panels"] for target in panel["targets"] for name in re.findall(r"\bqmt_\w+", target["expr"])}
    for family in (f for f in metrics.FAMILIES if f.kind == "counter"):  # a counter shows its series once something was counted
        metrics.count(fake_redis, family, **dict.fromkeys(family.labels, "x"))
    metrics.flush(fake_redis)
    text = exposition.render(fake_redis, make_settings()).decode()
    served = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    assert asked and asked <= served, asked - served
