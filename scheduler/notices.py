"""What DingTalk is told: which events notify (NOTIFY_EVENTS), and one line of Chinese and English for each.

A selector is an event kind (`trade`, `order_error`, `disconnected`) or a kind and one of its states:
`order:<status>` (rejected, cancelled, filled, ...), `job:<stage>`, `worker:up|down`, `routine:<state>`,
`kill_switch:on|off`. Lines carry the event's time (Shanghai), mask accounts (`888****567`) and name the
job and the order, so a message read late still says what happened when and to which job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError

from common.config.clock import SHANGHAI
from common.desk.routine_runs import RoutineRun, describe
from common.rules.masking import mask_account
from common.store import events

ORDER_STATUS_WORDS = {
    "rejected": "废单 rejected",
    "cancelled": "已撤 cancelled",
    "part_cancelled": "部撤 part-cancelled",
    "filled": "已成 filled",
    "part_filled": "部成 part-filled",
}
JOB_STAGE_WORDS = {
    "accepted": "受理 accepted",
    "sent": "已报送 sent",
    "rejected": "拒单 rejected by the broker",
    "expired": "过期 expired, never sent",
    "unknown": "未知 unknown: sent, the broker has not answered",
    "not_submitted": "未发送 not sent",
}


def state_of(event: events.EventBase) -> str:
    """The state a selector may name after the colon ("" for kinds that have none)."""
    if isinstance(event, events.OrderEvent):
        return event.status or ""
    if isinstance(event, events.JobEvent):
        return event.stage
    if isinstance(event, events.WorkerEvent | events.RoutineEvent):
        return event.state
    if isinstance(event, events.KillSwitchEvent):
        return "on" if event.on else "off"
    return ""


class Selection:
    """NOTIFY_EVENTS as a test: does this event become a DingTalk line?"""

    def __init__(self, selectors: Iterable[str]):
        self.kinds = {s for s in selectors if ":" not in s}
        self.states = {(kind, state) for kind, _, state in (s.partition(":") for s in selectors if ":" in s)}

    def __call__(self, event: events.EventBase) -> bool:
        return event.kind in self.kinds or (event.kind, state_of(event)) in self.states


def topic(event: events.EventBase) -> tuple[str, str] | None:
    """What an event tells of a job, when it tells a job's end or a fill: events telling the same thing share it (one
    rejection as an order status, an order error and a job stage; a state told again after a restart), so DingTalk
    tells each once (by job and state; a fill by its trade id)."""
    if not event.job_id:
        return None
    rejection = (
        (isinstance(event, events.OrderEvent) and event.status == "rejected")
        or isinstance(event, events.OrderErrorEvent)
        or (isinstance(event, events.JobEvent) and event.stage == "rejected")
    )
    if rejection:
        return ("rejected", event.job_id)
    if isinstance(event, events.OrderEvent) and event.status:
        return (f"order:{event.status}", event.job_id)
    if isinstance(event, events.JobEvent):
        return (f"job:{event.stage}", event.job_id)
    if isinstance(event, events.TradeEvent) and event.traded_id:
        return (f"trade:{event.traded_id}", event.job_id)
    return None


def line(event: events.EventBase) -> str:
    """`14:57:03 成交 filled: 888****567 buy 600000.SH 100 @ 10.0 (order 1, job o…)`."""
    return f"{datetime.fromtimestamp(event.ts, SHANGHAI):%H:%M:%S} {text(event)}"


def text(event: events.EventBase) -> str:
    account = mask_account(event.account_id) if event.account_id else ""
    where = f" {account}" if account else ""
    job = f"job {event.job_id or '-'}"
    if isinstance(event, events.TradeEvent):
        what = f"{event.side} {event.symbol} {event.traded_volume} @ {event.traded_price}"
        return f"成交 filled: {account} {what} (order {event.order_id}, {job})"
    if isinstance(event, events.OrderEvent):
        words = ORDER_STATUS_WORDS.get(event.status or "", f"委托 order {event.status}")
        why = f": {event.status_msg}" if event.status_msg else ""
        return f"{words}: {account} {event.side} {event.symbol} {event.volume} @ {event.price}{why} (order {event.order_id}, {job})"
    if isinstance(event, events.OrderErrorEvent):
        return f"下单失败 order error: {account} error {event.error_id} {event.error_msg} (order {event.order_id}, {job})"
    if isinstance(event, events.CancelErrorEvent):
        return f"撤单失败 cancel refused: {account} order {event.order_id}: error {event.error_id} {event.error_msg}"
    if isinstance(event, events.JobEvent):
        words = JOB_STAGE_WORDS.get(event.stage, event.stage)
        volume = event.volume or "(sized)"
        price = f" @ {event.price}" if event.price else ""
        why = f": {event.reason}" if event.reason else ""
        return f"{words}: {account} {event.side} {event.symbol} {volume}{price}{why} ({event.job_kind} {job})"
    if isinstance(event, events.ConnectionEvent):
        if event.kind == "disconnected":
            return f"QMT 断开 disconnected{where}: reconnecting with backoff; orders wait until their ORDER_TTL"
        return f"QMT 已连接 connected{where}"
    if isinstance(event, events.WorkerEvent):
        words = "工作进程停止 worker down" if event.state == "down" else "工作进程运行 worker up"
        return f"{words} ({event.host or 'host unknown'}){': ' + event.reason if event.reason else ''}"
    if isinstance(event, events.RoutineEvent):
        try:
            run = RoutineRun.model_validate(event.model_dump(include={"name", "day", "state", "trigger", "reason", "outcome"}))
        except ValidationError:  # a state a newer version added
            return f"定时任务 routine {event.name} on {event.day}: {event.state} {event.reason}".rstrip()
        return f"定时任务 {describe(run)}"
    if isinstance(event, events.CalendarEvent):
        return f"交易日历 calendar: {event.message}"
    if isinstance(event, events.KillSwitchEvent):
        jobs = f": {len(event.job_ids)} cancel-all job(s) {', '.join(event.job_ids)}" if event.job_ids else ""
        return f"紧急停止 kill switch {'ON' if event.on else 'off'} by {event.by}{jobs}"
    if isinstance(event, events.RiskEvent):
        return f"风控拒绝 risk refused: {event.reason} (client {event.client_id or '-'}, {event.symbol or '-'})"
    if isinstance(event, events.ConfigEvent):
        return f"配置变更 config: {event.what} changed by {event.by}: {json.dumps(event.change, ensure_ascii=False)[:300]}"
    if isinstance(event, events.AccountStatusEvent):
        return f"账户状态 account status: {account} {event.status}"
    return f"{event.kind} {job}"


def message(lines: list[str]) -> tuple[str, str]:
    """A markdown message's title (the first line's words, and how many more) and text (one list item a line)."""
    head = lines[0].split(" ", 1)[-1].split(":", 1)[0]
    title = head + (f" (+{len(lines) - 1})" if len(lines) > 1 else "")
    return title, "\n".join(f"- {entry}" for entry in lines)
