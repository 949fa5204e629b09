"""The DingTalk notifier in-process against a stand-in robot: signing, batching, retries, rescue, the shared budget."""

from __future__ import annotations

import threading

import pytest

from common.rules.exceptions import NotificationFailed
from common.store import events, keys
from scheduler import notifier as notifier_module
from scheduler.dingtalk import Robot
from scheduler.notices import Selection
from scheduler.notifier import Notifier
from tests.notify.robot import KEYWORD, StandInRobot, robot_settings
from tests.support import make_settings, wait_until


def fill(job: str, order_id: int = 1, account: str = "8881234567") -> events.TradeEvent:
    return events.TradeEvent(
        order_id=order_id, symbol="600000.SH", side="buy", traded_volume=100, traded_price=10.0, job_id=job, client_id="c", account_id=account
    )


class Running:
    """Notifiers running in threads until the test ends."""

    def __init__(self):
        self.stops: list[tuple[threading.Event, threading.Thread]] = []

    def start(self, notifier: Notifier) -> Notifier:
        stop = threading.Event()
        thread = threading.Thread(target=notifier.run, args=(stop,), daemon=True)
        thread.start()
        self.stops.append((stop, thread))
        return notifier

    def stop(self, notifier_index: int = -1) -> None:
        stop, thread = self.stops.pop(notifier_index)
        stop.set()
        thread.join(15)


@pytest.fixture
def running():
    started = Running()
    yield started
    while started.stops:
        started.stop()


def make_notifier(robot: StandInRobot, connection, timeout: float = 5.0, **settings) -> Notifier:
    config = make_settings(**robot_settings(robot), **settings)
    return Notifier(config, connection, Robot(config, timeout=timeout))


def joined(connection) -> bool:
    return (
        any(group["name"] == keys.NOTIFY_GROUP.encode() for group in connection.xinfo_groups(keys.EVENTS_STREAM))
        if connection.exists(keys.EVENTS_STREAM)
        else False
    )


def pending(connection) -> int:
    return connection.xpending(keys.EVENTS_STREAM, keys.NOTIFY_GROUP)["pending"]


def test_a_message_is_signed_markdown_with_the_keyword(robot):
    Robot(make_settings(**robot_settings(robot))).post("成交 filled", "- a line")
    [message] = robot.accepted
    assert KEYWORD in message.title and KEYWORD in message.text and "- a line" in message.text and robot.refused == []
    wrong = make_settings(**{**robot_settings(robot), "DINGTALK_SECRET": "SECwrong"})
    with pytest.raises(NotificationFailed, match="310000"):
        Robot(wrong).post("t", "x")
    assert robot.refused == ["sign"]


@pytest.mark.parametrize("mode", ["http_error", "errcode", "hang"])
def test_every_failure_is_a_notification_failed(robot, mode):
    robot.mode = mode
    robot.hang_until = 1e12
    with pytest.raises(NotificationFailed):
        Robot(make_settings(**robot_settings(robot)), timeout=0.3).post("t", "x")


def test_a_burst_is_one_masked_markdown_message_and_unchosen_events_are_acknowledged_unsent(robot, fake_redis, running):
    running.start(make_notifier(robot, fake_redis))
    assert wait_until(lambda: joined(fake_redis), 5)
    for index in range(10):
        events.append(fake_redis, events.JobEvent(stage="accepted", job_id=f"o{index:016x}", account_id="8881234567"))
        events.append(fake_redis, fill(f"o{index:016x}", order_id=index))
    assert wait_until(lambda: robot.accepted and pending(fake_redis) == 0, 10)
    [message] = robot.accepted
    assert message.text.count("成交 filled: 888****567 buy 600000.SH 100 @ 10.0 (order") == 10
    assert "(order 3, job o0000000000000003)" in message.text and "accepted" not in message.text and "8881234567" not in message.text


def test_a_failed_message_stays_pending_and_is_delivered_once_dingtalk_recovers(robot, fake_redis, running):
    robot.mode = "errcode"
    running.start(make_notifier(robot, fake_redis))
    assert wait_until(lambda: joined(fake_redis), 5)
    for index in range(3):
        events.append(fake_redis, fill(f"o{index:016x}", order_id=index))
    assert wait_until(lambda: robot.lost >= 2, 10)  # tried, and tried again after a backoff
    assert pending(fake_redis) == 3 and robot.accepted == []
    robot.mode = "healthy"
    assert wait_until(lambda: robot.accepted and pending(fake_redis) == 0, 10)
    assert sum(text.count("成交 filled") for text in robot.texts()) == 3


def test_a_killed_notifiers_events_are_rescued_by_another(robot, fake_redis, running, monkeypatch):
    monkeypatch.setattr(notifier_module, "ALIVE_SECONDS", 1)
    monkeypatch.setattr(notifier_module, "RESCUE_EVERY", 0.2)
    robot.hang_for(3600)
    doomed = running.start(make_notifier(robot, fake_redis, timeout=0.3))
    assert wait_until(lambda: joined(fake_redis), 5)
    for index in range(5):
        events.append(fake_redis, fill(f"o{index:016x}", order_id=index))
    assert wait_until(lambda: len(doomed.held) == 5 and doomed._failures >= 1, 10)  # noqa: SLF001 - it tried: the robot hung
    monkeypatch.setattr(doomed, "retire", lambda: None)  # killed: it never says goodbye; its liveness key lapses
    running.stop()
    robot.mode = "healthy"
    running.start(make_notifier(robot, fake_redis))
    assert wait_until(lambda: pending(fake_redis) == 0 and robot.accepted, 15)
    assert sorted(f"job o{index:016x}" in text for text in robot.texts() for index in range(5)).count(True) == 5
    assert sum(text.count("成交 filled") for text in robot.texts()) == 5


def test_two_notifiers_share_twenty_messages_a_minute(robot, fake_redis, running, monkeypatch):
    monkeypatch.setattr(notifier_module, "LINGER_SECONDS", 0.0)  # every event would be a message of its own
    first, second = running.start(make_notifier(robot, fake_redis)), running.start(make_notifier(robot, fake_redis))
    assert wait_until(lambda: joined(fake_redis), 5)
    stop = threading.Event()
    for index in range(40):
        events.append(fake_redis, fill(f"o{index:016x}", order_id=index))
        stop.wait(0.05)
    assert wait_until(lambda: len(robot.accepted) >= 20, 10)
    assert not wait_until(lambda: len(robot.accepted) > 20, 2)  # the rest wait for the minute to pass, held by both
    assert len(first.held) + len(second.held) + sum(text.count("成交") for text in robot.texts()) == 40


def test_the_default_selection_tells_what_someone_acts_on():
    chosen = Selection(make_settings().NOTIFY_EVENTS)
    order = dict(order_id=1, symbol="600000.SH", side="buy", order_type=23, volume=100, price=10.0, price_type=11)
    assert chosen(fill("o1")) and chosen(events.OrderEvent(**order, order_status=57, status="rejected"))
    assert not chosen(events.OrderEvent(**order, order_status=56, status="filled"))  # the fill told it
    assert chosen(events.JobEvent(stage="expired")) and not chosen(events.JobEvent(stage="accepted"))
    assert chosen(events.WorkerEvent(state="down")) and chosen(events.ConnectionEvent(kind="disconnected"))
    assert chosen(events.RoutineEvent(name="n", day="2026-12-01", state="done")) and not chosen(events.RoutineEvent(name="n", day="d", state="fired"))
    assert not chosen(events.RiskEvent(reason="cap")) and not chosen(events.ConfigEvent(what="risk_limits", by="admin"))
    assert Selection(["risk", "job:accepted"])(events.RiskEvent(reason="cap"))


def test_one_rejection_told_three_ways_is_one_line(robot, fake_redis, running):
    running.start(make_notifier(robot, fake_redis))
    assert wait_until(lambda: joined(fake_redis), 5)
    job = "o00000000000000aa"
    order = dict(
        order_id=7, symbol="600000.SH", side="buy", order_type=23, volume=100, price=10.0, price_type=11, job_id=job, account_id="8881234567"
    )
    events.append(fake_redis, events.OrderEvent(**order, order_status=57, status="rejected", status_msg="可用资金不足"))
    events.append(fake_redis, events.OrderErrorEvent(order_id=7, error_id=-61, error_msg="可用资金不足", job_id=job, account_id="8881234567"))
    events.append(fake_redis, events.JobEvent(stage="rejected", job_id=job, reason="可用资金不足"))
    assert wait_until(lambda: robot.accepted and pending(fake_redis) == 0, 10)
    [text] = robot.texts()
    assert text.count(job) == 1 and "废单 rejected: 888****567 buy 600000.SH 100 @ 10.0: 可用资金不足 (order 7, job" in text


def test_lines_say_what_happened_in_chinese_and_english_masked_with_the_job():
    from scheduler.notices import text

    expired = events.JobEvent(
        stage="expired", job_id="o1", account_id="8881234567", symbol="600000.SH", side="buy", volume=100, price=10.0, reason="waited past ORDER_TTL"
    )
    assert text(expired) == "过期 expired, never sent: 888****567 buy 600000.SH 100 @ 10.0: waited past ORDER_TTL (order job o1)"
    assert text(events.ConnectionEvent(kind="disconnected")).startswith("QMT 断开 disconnected: reconnecting")
    assert text(events.ConnectionEvent(kind="connected", account_id="8881234567")) == "QMT 已连接 connected 888****567"
    assert (
        text(events.WorkerEvent(state="down", host="win", reason="no heartbeat for 11 s")) == "工作进程停止 worker down (win): no heartbeat for 11 s"
    )
    done = events.RoutineEvent(name="nhg", day="2026-12-01", state="done", outcome={"lent": 200000.0, "order_ids": [1, 2]})
    assert text(done) == "定时任务 routine nhg on 2026-12-01: lent 200,000.00 yuan, orders [1, 2]"
    assert text(events.KillSwitchEvent(on=True, by="admin", job_ids=["c1"])) == "紧急停止 kill switch ON by admin: 1 cancel-all job(s) c1"
