"""The event stream: one writer module, one model per kind, read from a cursor, capped; the worker's callbacks feed it."""

from __future__ import annotations

import re
from pathlib import Path

from common.store import events, jobqueue, keys
from tests.support import order_payload

ROOT = Path(__file__).resolve().parents[2]


def test_events_read_back_from_a_cursor_as_their_models(fake_redis):
    first = events.append(fake_redis, events.ConnectionEvent(kind="disconnected"))
    events.append(fake_redis, events.AccountStatusEvent(account_id="SIM000001", status=0))
    [(cursor, dropped), (last, status)] = events.read(fake_redis)
    assert cursor == first and isinstance(dropped, events.ConnectionEvent) and dropped.kind == "disconnected"
    assert isinstance(status, events.AccountStatusEvent) and status.account_id == "SIM000001"
    assert events.read(fake_redis, after=last) == []
    events.append(fake_redis, events.ConnectionEvent(kind="connected"))
    assert [event.kind for _, event in events.read(fake_redis, after=last)] == ["connected"]


def test_an_entry_of_an_unknown_kind_is_skipped_and_entries_of_the_old_layout_read(fake_redis):
    fake_redis.xadd(keys.EVENTS_STREAM, {"kind": "from_a_newer_version", "ts": 1.0, "body": "{}"})
    fake_redis.xadd(
        keys.EVENTS_STREAM,
        {"kind": "order_error", "ts": 2.0, "body": '{"order_id": 7, "account_id": "A", "error_id": -61, "error_msg": "no cash", "order_remark": ""}'},
    )
    [(_, refused)] = events.read(fake_redis)
    assert isinstance(refused, events.OrderErrorEvent) and refused.error_msg == "no cash" and refused.ts == 2.0


def test_the_stream_is_capped(fake_redis, monkeypatch):
    monkeypatch.setattr(events, "MAXLEN", 5)
    for _ in range(300):
        events.append(fake_redis, events.ConnectionEvent(kind="connected"))
    assert fake_redis.xlen(keys.EVENTS_STREAM) < 300


def test_a_filled_order_in_the_worker_appears_as_order_and_trade_events(fake_redis, tmp_path):
    from tests.support import make_settings, sim_prices_file
    from worker.runner import serve

    settings = make_settings(SIM_DATA_DIR=str(tmp_path / "sim"), SIM_PRICES_FILE=sim_prices_file(tmp_path))
    job_id = jobqueue.enqueue(fake_redis, order_payload(), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    seen = [event for _, event in events.read(fake_redis, count=1000)]
    orders = [e for e in seen if isinstance(e, events.OrderEvent) and e.order_remark == job_id]
    trades = [e for e in seen if isinstance(e, events.TradeEvent) and e.order_remark == job_id]
    assert orders and orders[-1].status == "filled" and orders[-1].symbol == "600000.SH"
    assert sum(t.traded_volume for t in trades) == 100


def test_only_the_events_module_names_the_events_stream():
    writers = []
    for path in ROOT.glob("[acsw]*/**/*.py"):
        if path.parts[len(ROOT.parts)] in (".venv",) or path.name == "keys.py" or path == ROOT / "common" / "store" / "events.py":
            continue
        if re.search(r"EVENTS_STREAM|qmt:events", path.read_text(encoding="utf-8")):
            writers.append(str(path.relative_to(ROOT)))
    assert writers == []


def test_the_kinds_the_settings_know_are_the_kinds_the_stream_writes():
    """NOTIFY_EVENTS is checked against common.rules.event_kinds (below the store); the models are the store's."""
    from common.rules import event_kinds

    assert event_kinds.KINDS == events.KINDS
