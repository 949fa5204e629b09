"""GET /events with the roles as real processes: a client follows its 1,000 orders from a cursor, sees each one's
steps in order and nothing of another client's; a cursor from before the stream's start is 410."""

from __future__ import annotations

import json
import threading

import pytest

from common.rules.risk import RiskLimits
from common.store import events, keys, risk_state
from tests.integration.conftest import wait_ready
from tests.support import SignedHttpClient, wait_until

pytestmark = pytest.mark.integration
EVENTS = "/qmt/trade/api/events"
TRADE = "/qmt/trade/api/trade"
OTHER = {"client_id": "other-desk", "secret": "other-secret-0123456789", "scopes": ["trade", "query"], "accounts": [1]}
ORDERS = 1_000


class Follower:
    """Follows /events from a cursor in a thread, as a client would: long polls, resuming from each answer's `next`."""

    def __init__(self, http: SignedHttpClient, cursor: str):
        self.http = http
        self.cursor = cursor
        self.seen: list[dict] = []
        self.done = threading.Event()
        self.errors: list[object] = []
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        while not self.done.is_set():
            answer = self.http.get(EVENTS, query=f"after={self.cursor}&limit=1000&wait=2")
            if answer.status != 200:
                self.errors.append(answer.body)
                return
            self.seen.extend(answer.body["events"])
            self.cursor = answer.body["next"]

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)


def stream_id(text: str) -> tuple[int, int]:
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence)


def test_a_client_follows_its_thousand_orders_in_order_and_sees_none_of_anothers(roles, http, role_env, real_redis):
    role_env["API_CLIENTS"] = json.dumps([OTHER])
    risk_state.save(real_redis, RiskLimits(max_actions_per_second=0, max_actions_per_day=0))
    roles.start("api")
    roles.start("worker")
    wait_ready(http, roles)
    other = SignedHttpClient(http.base_url, client_id=OTHER["client_id"], secret=OTHER["secret"])

    start = http.get(EVENTS, query="limit=1000")
    assert start.status == 200
    follower = Follower(http, start.body["next"])
    mine, theirs = [], []
    for index in range(ORDERS):
        body = {"trader_index": 0, "symbol": "510300.SH", "volume": 100, "price": 4.0, "order_type": 23, "strategy_name": f"mine-{index}"}
        answer = http.post(TRADE, body)
        assert answer.status == 202, answer.body
        mine.append(answer.body["job_id"])
        if index % 50 == 0:
            body = {**body, "trader_index": 1, "strategy_name": f"theirs-{index}"}
            answer = other.post(TRADE, body)
            assert answer.status == 202, answer.body
            theirs.append(answer.body["job_id"])

    def all_ended() -> bool:
        finished = {e["job_id"] for e in follower.seen if e["kind"] == "trade" or e.get("status") in ("filled", "rejected")}
        return finished >= set(mine)

    assert wait_until(all_ended, 120, 0.2), f"{len(follower.seen)} events seen; errors {follower.errors}"
    follower.stop()
    assert follower.errors == []
    seen = follower.seen
    assert not [e for e in seen if e.get("client_id") == OTHER["client_id"] or e.get("job_id") in theirs]
    assert all(e.get("client_id") in ("", "test-client") for e in seen)
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was read twice"
    steps: dict[str, list[str]] = {job_id: [] for job_id in mine}
    for event in seen:
        if event.get("job_id") in steps:
            steps[event["job_id"]].append(event.get("stage") or event.get("status") or event["kind"])
    for job_id, kinds in steps.items():
        assert kinds[0] == "accepted" and kinds[1] == "sent", (job_id, kinds)
        end = next(i for i, kind in enumerate(kinds) if kind in ("filled", "trade", "rejected"))
        assert end > 1, (job_id, kinds)

    # trimmed past the first event seen: resuming from before the stream's start is 410, never a silent gap
    real_redis.xtrim(keys.EVENTS_STREAM, maxlen=10, approximate=False)
    gone = http.get(EVENTS, query=f"after={seen[0]['id']}")
    assert gone.status == 410 and stream_id(gone.body["oldest"]) > stream_id(seen[0]["id"]), gone.body
    assert http.get(EVENTS, query="after=0-0").status == 200


def test_a_kind_filtered_poll_reads_a_bounded_page_of_a_long_stream(roles, http, real_redis):
    """60,000 events of other kinds before the one asked for: each poll reads at most FOLLOW_SCAN entries and moves the
    cursor on, so its cost follows the answer, not the stream's length; following on reaches the event."""
    roles.start("api")
    assert wait_until(lambda: _answers(http), 30), roles.log("api")
    with real_redis.pipeline(transaction=False) as pipe:
        for index in range(60_000):
            fields = events.fields(events.ConfigEvent(what="risk_limits", by="load", change={"n": index}))
            pipe.xadd(keys.EVENTS_STREAM, fields)
        pipe.execute()
    ids = [entry_id.decode() for entry_id, _ in real_redis.xrange(keys.EVENTS_STREAM, count=events.FOLLOW_SCAN)]
    events.append(real_redis, events.CalendarEvent(message="the one asked for"))

    first = http.get(EVENTS, query="after=0-0&kind=calendar&limit=10&wait=1")
    assert first.status == 200 and first.body["events"] == [], first.body
    assert first.body["next"] == ids[-1]  # one page read, not the whole stream
    cursor, polls, found = first.body["next"], 1, []
    while not found and polls < 60_000 // events.FOLLOW_SCAN + 5:
        answer = http.get(EVENTS, query=f"after={cursor}&kind=calendar&limit=10&wait=1")
        found, cursor, polls = answer.body["events"], answer.body["next"], polls + 1
    assert [e["message"] for e in found] == ["the one asked for"], (polls, cursor)


def _answers(http) -> bool:
    try:
        return http.get("/qmt/trade/api/health").status in (200, 503)
    except OSError:
        return False
