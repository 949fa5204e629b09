"""The Prometheus text of /metrics, built at scrape time from Redis (prometheus_client's exposition format).

Nothing here keeps state: the counters and histograms are the sums every process flushed to Redis
(common.store.metrics), and the gauges are read when scraped — queue depths, heartbeat ages, each account's
broker connection, the kill switch, the can-trade verdict (common.store.tradability), and DingTalk's figures
(keys.DINGTALK_*). So any web process answers for the whole router, and the worker needs no exporter of
its own. When Redis does not answer, the text says only `qmt_redis_up 0`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from common.config.settings import Settings
from common.rules.loose_types import RedisReply
from common.rules.masking import mask_account
from common.store import keys, metrics, risk_state, terminals, tradability
from common.store.jobqueue import queue

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(connection: redis.Redis, settings: Settings) -> bytes:
    """The whole scrape, as Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RouterCollector(connection, settings))
    return generate_latest(registry)


class _RouterCollector(Collector):
    def __init__(self, connection: redis.Redis, settings: Settings):
        self._redis = connection
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("qmt_redis_up", "1 when this web process reached Redis for this scrape")
        try:
            found = list(self._figures())
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found

    def _figures(self) -> Iterator[Metric]:
        for family in metrics.FAMILIES:
            stored = metrics.read(self._redis, family)
            yield _counter(family, stored) if family.kind == "counter" else _histogram(family, stored)
        yield from self._gauges()
        yield from self._dingtalk()

    def _gauges(self) -> Iterator[Metric]:
        every = terminals.terminals(self._settings)
        depth = GaugeMetricFamily("qmt_queue_depth", "jobs waiting on each queue", labels=["queue"])
        for name in (name for terminal in every for name in terminal.queues):
            depth.add_metric([name], queue(self._redis, name).count)
        yield depth
        worker = GaugeMetricFamily(
            "qmt_worker_heartbeat_age_seconds", "seconds since a terminal's worker's last heartbeat (+Inf: none)", labels=["terminal"]
        )
        for terminal in every:
            age = tradability.heartbeat_age(self._redis, terminal.heartbeat_key)
            worker.add_metric([terminal.name], math.inf if age is None else max(age, 0.0))
        yield worker
        age = tradability.heartbeat_age(self._redis, keys.SCHEDULER_HEARTBEAT)
        scheduler = GaugeMetricFamily("qmt_scheduler_heartbeat_age_seconds", "seconds since the scheduler's last heartbeat (+Inf: none)")
        scheduler.add_metric([], math.inf if age is None else max(age, 0.0))
        yield scheduler
        connected = GaugeMetricFamily(
            "qmt_broker_connected", "1 while an enabled account's broker session is connected", labels=["account_index", "account"]
        )
        for index, account in enumerate(self._settings.enabled_accounts):
            state = self._redis.hget(keys.broker_connection(index), "connected")
            connected.add_metric([str(index), mask_account(account.account_id)], 1 if state == b"1" else 0)
        yield connected
        kill = GaugeMetricFamily("qmt_kill_switch", "1 while the kill switch halts new orders")
        kill.add_metric([], 1 if risk_state.load(self._redis).kill_switch else 0)
        yield kill
        verdict = tradability.judge(self._redis, self._settings)
        can = GaugeMetricFamily("qmt_can_trade", "1 when /qmt/trade/api/health says the router can trade (its reasons are there)")
        can.add_metric([], 1 if verdict.can_trade else 0)
        yield can

    def _dingtalk(self) -> Iterator[Metric]:
        sent, failed, queued = self._redis.mget([keys.DINGTALK_SENT, keys.DINGTALK_FAILED, keys.DINGTALK_QUEUED])  # type: ignore[misc]
        messages = CounterMetricFamily("qmt_dingtalk_messages", "DingTalk messages posted (sent) or given up on (failed)", labels=["outcome"])
        messages.add_metric(["sent"], _number(sent))
        messages.add_metric(["failed"], _number(failed))
        yield messages
        waiting = GaugeMetricFamily("qmt_dingtalk_queued", "DingTalk messages waiting to be posted")
        waiting.add_metric([], _number(queued))
        yield waiting


def _number(raw: RedisReply) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return 0.0


def _labels(family: metrics.Family, field: str) -> list[str]:
    values = json.loads(field)
    return [str(v) for v in values] if isinstance(values, list) and len(values) == len(family.labels) else []


def _counter(family: metrics.Family, stored: dict[str, float]) -> Metric:
    counter = CounterMetricFamily(family.name, family.help, labels=list(family.labels))
    for field, value in sorted(stored.items()):
        labels = _labels(family, field)
        if labels or not family.labels:
            counter.add_metric(labels, value)
    return counter


def _histogram(family: metrics.Family, stored: dict[str, float]) -> Metric:
    """Cumulative buckets from the per-bucket counts; a histogram with no observation yet shows zeros."""
    histogram = HistogramMetricFamily(family.name, family.help, labels=list(family.labels))
    series: dict[str, dict[str, float]] = {} if family.labels else {metrics.label_field(family, {}): {}}
    for field, value in stored.items():
        labels, _, part = field.rpartition("|")
        series.setdefault(labels, {})[part] = value
    bounds = [*metrics.LATENCY_BUCKETS, math.inf]
    for labels, parts in sorted(series.items()):
        running = 0.0
        buckets = []
        for index, bound in enumerate(bounds):
            running += parts.get(f"b{index}", 0.0)
            buckets.append(("+Inf" if bound == math.inf else repr(bound), running))
        histogram.add_metric(_labels(family, labels), buckets, parts.get("sum", 0.0))
    return histogram
