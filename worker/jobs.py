"""Job functions RQ runs inside the worker process: order, cancel, query.

An order job is never retried: it either reaches the broker once (tagged with the job id in
order_remark) or records why it did not. Domain outcomes are results, not exceptions.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from dataclasses import asdict
from datetime import datetime

from rq import get_current_job

from common.config import clock
from common.rules import risk
from common.rules.exceptions import (
    BrokerTimeout,
    BrokerUnavailable,
    CancelRefused,
    NoQuote,
    RateLimited,
    RiskRejected,
    SizeRoundsToZero,
    StoreUnavailable,
    UnknownAccount,
)
from common.rules.loose_types import Json, JsonObject
from common.rules.order_request import AllIn, Percent, Repo
from common.rules.orders import BUY, REPO_CODES, SELL, SIDE_NAMES, is_market
from common.rules.quote import Quote
from common.rules.sizing import Fees, Funds, best_repo_quote, repo_volume, sized_volume
from common.rules.symbols import Board, instrument
from common.store import audit, metrics, quotes, risk_state, rq_model
from common.store.payloads import CancelPayload, CancelResult, OrderPayload, OrderResult, QueryPayload, SimDayPayload
from worker import fence, runtime, sends
from worker.broker_api import Broker, LendsRepo, OrderId, SendsAsync, SendTicket
from worker.lease import LeaseLost
from worker.snapshots import order_view, portfolio_view, position_view, repo_loan_view, trade_view

log = logging.getLogger("worker.jobs")


def _job_id() -> str:
    job = get_current_job()
    return job.id if job else ""


def run_order(payload: dict) -> dict | str:
    """Place one order. Returns an OrderResult as JSON; the outcome also goes into the audit trail. With sends in flight
    (worker.in_flight) it returns common.store.rq_model.DEFERRED once the order is out: its result follows."""
    order = OrderPayload.model_validate(payload)
    tag = _job_id()
    rt = runtime.current()
    job = get_current_job()
    restored = job is not None and bool(job.meta.get("restored"))  # perhaps sent by the process before: not this one's alone
    result: dict | str
    if not restored and rt.recorder.taken(tag, order.meta.created_at):
        result = _sent_before(order, tag, rt)
    else:
        result = _place(order, tag, rt)
    if isinstance(result, dict):
        sends.settle_order(rt.redis, order, tag, result, batch=rt.batch)
    return result


def _sent_before(order: OrderPayload, tag: str, rt: runtime.Runtime) -> dict:
    """A job this process already sent, given back by a Redis that lost its last writes (its start, or its end): never
    sent again. Its result is what the broker says of its tag, heard or looked up as for a send whose answer was lost:
    the order if found, else `unknown` with the tag to look for."""
    base = order_basics(order)
    log.error("job %s was given back by Redis after this worker sent it (Redis lost its last writes): not sent again", tag)
    try:
        broker = rt.brokers.broker(order.account_index)
    except UnknownAccount as error:
        return OrderResult(
            outcome="unknown", error=f"{error.message}; this job's order was sent once: look for order_remark {tag} in QMT", **base
        ).model_dump()
    again = BrokerTimeout("this worker sent this job's order once already and Redis gave the job back (it lost its last writes)")
    return sends.after_send(rt, broker, tag, base, time.time(), again)


def _place(order: OrderPayload, tag: str, rt: runtime.Runtime) -> dict | str:
    base = order_basics(order)
    job = get_current_job()
    restored = job is not None and bool(job.meta.get("restored"))  # restored from a copy up to a second old: it may have been sent since
    queued_before = not restored and job is not None and rt.prior is not None and rt.prior.may_have_sent(job)
    prior = rt.prior if queued_before else None  # the broker's orders when this process started: the job was queued before
    earlier = restored or prior is not None  # perhaps sent before this process
    late = clock.time() - order.deadline
    if late > 0 and not earlier:  # one perhaps sent before is looked up first: past its deadline, it may be at the broker
        log.warning("job %s expired: started %.1f s past its deadline; never sent", tag, late)
        return OrderResult(outcome="expired", error=f"waited past ORDER_TTL ({late:.1f} s late); never sent", **base).model_dump()
    try:
        broker = rt.brokers.broker(order.account_index)
    except UnknownAccount as error:
        return OrderResult(outcome="not_submitted", error=error.message, **base).model_dump()
    if broker.account_id != order.account_id:
        moved = f"trader_index {order.account_index} is now account {broker.account_id}, not {order.account_id}; never sent"
        return OrderResult(outcome="not_submitted", error=moved, **base).model_dump()
    online_wait = order.deadline - clock.time()
    if not broker.connected and not broker.wait_online(max(online_wait, rt.settings.BROKER_CALL_TIMEOUT) if earlier else online_wait):
        if earlier:
            why = "the broker stayed disconnected, so whether the worker before this one sent it is unknown; not sent now"
            return OrderResult(outcome="unknown", error=f"{why}: look for order_remark {tag} in QMT before sending it again", **base).model_dump()
        log.warning("job %s expired: the broker stayed disconnected past its deadline; never sent", tag)
        return OrderResult(outcome="expired", error="the broker was disconnected until ORDER_TTL ran out; never sent", **base).model_dump()
    if earlier:
        queued = datetime.fromtimestamp(order.deadline - rt.settings.ORDER_TTL, clock.SHANGHAI).date()  # as recovery's _queued_day
        try:
            if queued < clock.today():  # queued on an earlier day: today's orders alone cannot say it was never sent
                since = broker.orders_since(queued)
                if since is None:
                    why = f"queued on {queued}, and the broker can no longer say whether the worker before this one sent it; not sent now"
                    return OrderResult(
                        outcome="unknown", error=f"{why}: look for order_remark {tag} among that day's orders in QMT", **base
                    ).model_dump()
                sent = next((o for o in since if o.order_remark == tag), None)
            else:
                sent = prior.order(broker, order.account_index, tag) if prior is not None else sends.order_by_tag(broker, tag)
        except BrokerUnavailable as error:
            log.error("job %s: the broker could not say whether the worker before this one sent it: not sent", tag)
            why = f"the broker could not say whether the worker before this one sent it ({error.message}); not sent now"
            return OrderResult(outcome="unknown", error=f"{why}: look for order_remark {tag} in QMT before sending it again", **base).model_dump()
        if sent is not None:
            log.error("job %s was sent by the worker (or embedded run) before this one: not sent again", tag)
            return sends.found_result(sent, {**base, "volume": sent.volume, "price": sent.price}).model_dump()
        late = clock.time() - order.deadline
        if late > 0:  # the broker has no order with its tag: never sent, and now too late to send
            log.warning("job %s expired: started %.1f s past its deadline; never sent", tag, late)
            return OrderResult(outcome="expired", error=f"waited past ORDER_TTL ({late:.1f} s late); never sent", **base).model_dump()
    try:
        symbol, volume, price, cost, quote = _resolve(order, broker, rt)

        def attempt(raw: str, limits: risk.RiskLimits) -> tuple[fence.Verdict, str]:
            # the kill switch halts orders still queued when it was thrown; every order meets the caps again, priced fresh
            risk.check_order(limits, cost, quote, rt.settings.MAX_PRICE_DEVIATION_PCT)
            rt.recorder.expect(tag, order.meta.client_id, sends.job_event(order, tag, "sent", symbol=cost.symbol, volume=volume, price=price))
            verdict, detail = fence.before_send(rt.redis, rt.lease, raw)
            if verdict == "stale":
                raise risk_state.LimitsChanged(detail)
            return verdict, detail

        verdict, detail = risk_state.checked(rt.redis, attempt)
    except (SizeRoundsToZero, NoQuote, BrokerUnavailable, RiskRejected, StoreUnavailable) as error:
        rt.recorder.forget_sent(tag)  # never sent: its "sent" is never told
        log.info("job %s not sent: %s", tag, error.message)
        nothing = isinstance(error, SizeRoundsToZero)
        return OrderResult(outcome="not_submitted", error=f"{error.message}; never sent", nothing_to_send=nothing, **base).model_dump()
    base.update(symbol=symbol, volume=volume, price=price)
    if verdict != "ok":
        reason = {
            "lost": "the worker did not hold its terminal's lease at the send (another worker's, or lapsed)",
            "unanswered": f"Redis did not answer the check before the send ({detail})",
            "unconfirmed": "no Redis replica confirmed the worker's lease and this job within REDIS_WAIT_MS (REDIS_WAIT_REPLICAS)",
        }[verdict]
        rt.recorder.forget_sent(tag)
        log.error("job %s not sent: %s", tag, reason)
        return OrderResult(outcome="not_submitted", error=f"{reason}; never sent", **base).model_dump()
    submitted_at = time.time()
    metrics.observe(rt.redis, metrics.ORDER_TO_BROKER, max(submitted_at - order.meta.created_at, 0.0))
    send = (symbol, order.order_type, volume, order.xt_price_type, price, order.strategy_name, tag)
    rt.recorder.calling_broker(tag, order.meta.created_at)  # from here it may reach the broker, whatever happens to this process's Redis
    if rt.in_flight is None or job is None or not isinstance(broker, SendsAsync):
        return sends.after_send(rt, broker, tag, base, submitted_at, sends.heard(lambda: broker.place_order(*send)))
    try:  # pipelined: the async call answers at once; the broker's answer ends the job on another thread (worker.in_flight)
        ticket = broker.send_order(*send)
    except Exception as error:  # noqa: BLE001 - never sent (BrokerUnavailable), or it may have gone out: judged as a sync send's
        return sends.after_send(rt, broker, tag, base, submitted_at, error)
    heard = sends.heard(functools.partial(broker.order_answer, ticket, 0.0))
    if not isinstance(heard, BrokerTimeout):  # answered already (a terminal that costs nothing): ended here, as a sync send
        return sends.after_send(rt, broker, tag, base, submitted_at, heard)
    answer = functools.partial(sends.heard, functools.partial(broker.order_answer, ticket, broker.call_timeout))
    # the ending thread records the job through its own copy: RQ's loop goes on changing its object (status, result)
    ending = functools.partial(sends.end_sent, rt, copy.copy(job), order, tag, base, submitted_at, broker)
    rt.in_flight.hand_off(tag, answer, ending, answered=lambda heard: not isinstance(heard, BrokerTimeout))
    return rq_model.DEFERRED


def check_fence(rt: runtime.Runtime) -> None:
    """Right before a send to QMT: raise LeaseLost unless this worker still holds its terminal's lease (the fence)."""
    if rt.lease is not None and not rt.lease.held():
        raise LeaseLost(f"lease {rt.lease.key} is no longer {rt.lease.token}")


def order_basics(order: OrderPayload) -> JsonObject:
    """The fields every OrderResult of `order` starts from (volume and price change when the worker sizes it)."""
    return {
        "symbol": order.symbol,
        "side": SIDE_NAMES[order.order_type],
        "requested_volume": order.volume,
        "volume": order.volume,
        "price": order.price,
        "price_type": order.price_type,
        "xt_price_type": order.xt_price_type,
    }


def _resolve(order: OrderPayload, broker: Broker, rt: runtime.Runtime) -> tuple[str, int, float, risk.OrderCost, Quote | None]:
    """The symbol, volume and price to send, sized where the account is known (docs/internals.md, "Domain rules"), what
    the risk gate prices (common.rules.risk) and the fresh quote it prices with.

    A market buy is sized at the day's upper limit, the price the broker freezes its cash at (risk.worst_price): sized at
    the last price it would be refused for want of cash. Market types send price 0, except STAR, where the price is the
    protective price.
    """
    fees = Fees.from_settings(rt.settings)
    market = is_market(order.xt_price_type)
    size = order.size
    if isinstance(size, Repo):
        return _repo_order(order, size, broker, fees)
    inst = instrument(order.symbol)
    quote = broker.quote(inst.code)
    if quote is not None and market:
        quotes.remember(rt.redis, quote)  # the door prices the next market order of this code with it
    price = order.price
    if market or price <= 0:
        if quote is None:
            raise NoQuote(f"no quote for {inst.code}: a market-type or unpriced order needs one", "symbol")
        price = price or quote.last
    sized = risk.OrderCost(inst.code, market, None, 0.0 if market else price, lending=inst.board is Board.REPO)
    volume = order.volume
    if isinstance(size, Percent | AllIn):
        volume = sized_volume(inst, size, order.order_type, risk.worst_price(sized, quote), _funds(broker), fees)
    send_price = 0.0 if market and inst.board is not Board.STAR else price
    cost = risk.OrderCost(inst.code, market, volume, sized.limit_price, sized.lending)
    return inst.code, volume, send_price, cost, quote


def _funds(broker: Broker) -> Funds:
    """The account's figures sizing asks for, read from the broker when first asked (the asset once for both figures)."""
    asset = functools.cache(broker.query_asset)

    def can_use_volume(code: str) -> int:
        position = broker.query_position(code)
        return position.can_use_volume if position else 0

    return Funds(lambda: asset().total_asset, lambda: asset().cash, can_use_volume)


def _repo_order(order: OrderPayload, size: Repo, broker: Broker, fees: Fees) -> tuple[str, int, float, risk.OrderCost, Quote | None]:
    """Lend idle cash at the best of the 1-day repo rates compared (the higher bid; a lender sells)."""
    codes = size.codes or REPO_CODES
    best = best_repo_quote([q for q in (broker.quote(code) for code in codes) if q is not None])
    if best is None:
        raise NoQuote(f"no quote for {' or '.join(codes)}: cannot price the reverse repo", "symbol")
    cash = broker.query_asset().cash
    volume = repo_volume(instrument(best.code), cash, size.reserve_amount, fees)
    rate = order.price or best.bid or best.last
    return best.code, volume, rate, risk.OrderCost(best.code, False, volume, rate, lending=True), best


def run_cancel(payload: dict) -> dict:
    """Ask the broker to cancel one order, or every open order of one side. Safe to repeat.

    A side cancel counts each cancel it sends against the account's per-second and daily caps (the
    exchanges count each; the door counted the request once) and records the rest as refused once a
    cap is reached; the kill switch's cancels are neither counted nor refused.
    """
    cancel = CancelPayload.model_validate(payload)
    rt = runtime.current()
    result = CancelResult(order_id=cancel.order_id, side=cancel.side, accepted=False)
    try:
        broker = rt.brokers.broker(cancel.account_index)
        if cancel.order_id is not None:
            targets = [OrderId(cancel.order_id)]
        else:
            wanted = BUY if cancel.side == "buy" else SELL
            if rt.in_flight is not None:  # the orders sent before this cancel are listed once the broker answered them
                rt.in_flight.wait_for_answers(rt.settings.BROKER_CALL_TIMEOUT)
            targets = [o.order_id for o in broker.query_orders(cancelable_only=True) if o.order_type == wanted]
        counted = cancel.order_id is None and not cancel.kill_switch  # one order's cancel was counted at the door
        limits = risk_state.load(rt.redis) if counted else None
        sender = broker if rt.in_flight is not None and isinstance(broker, SendsAsync) else None
        asked: list[tuple[OrderId, SendTicket]] = []  # async cancels sent, their answers heard once all are out
        try:
            for position, order_id in enumerate(targets):
                if limits is not None:
                    try:
                        risk_state.count_action(rt.redis, limits, cancel.account_index)
                    except RateLimited as capped:
                        result.refused += [{"order_id": left, "error": f"not sent: {capped.message}"} for left in targets[position:]]
                        break
                try:
                    check_fence(rt)
                    if sender is not None:
                        asked.append((order_id, sender.send_cancel(order_id)))
                        continue
                    broker.cancel_order(order_id)
                except LeaseLost:
                    result.refused += [{"order_id": left, "error": "not sent: this worker lost its terminal's lease"} for left in targets[position:]]
                    break
                except CancelRefused as refusal:
                    result.refused.append({"order_id": order_id, "error": refusal.message})
                    continue
                result.cancelled.append(order_id)
        finally:  # the cancels sent before a send failed (BrokerUnavailable) went out: their answers are heard all the same
            if sender is not None:
                _hear_cancels(sender, asked, result)
    except (UnknownAccount, BrokerUnavailable) as error:
        result.error = error.message
    result.accepted = result.error is None and not result.refused
    if result.refused and result.error is None:
        result.error = "; ".join(dict.fromkeys(r["error"] for r in result.refused))
    log.info(
        "cancel %s on account %s: cancelled %s, refused %s", cancel.order_id or cancel.side, cancel.account_index, result.cancelled, result.refused
    )
    return result.model_dump()


def _hear_cancels(sender: SendsAsync, asked: list[tuple[OrderId, SendTicket]], result: CancelResult) -> None:
    """The broker's answer to each async cancel sent, into `result` (one that never came may still take effect)."""
    for order_id, ticket in asked:
        try:
            sender.cancel_answer(ticket, runtime.current().settings.BROKER_CALL_TIMEOUT)
        except CancelRefused as refusal:
            result.refused.append({"order_id": order_id, "error": refusal.message})
            continue
        except BrokerTimeout as silence:
            result.refused.append({"order_id": order_id, "error": f"{silence.message}; it may still take effect: check the order"})
            continue
        result.cancelled.append(order_id)


def run_query(payload: dict) -> Json:
    """Read accounts, asset, positions, orders, one order or trades. Raises when the broker cannot answer."""
    query = QueryPayload.model_validate(payload)
    rt = runtime.current()
    if query.what == "accounts":
        return [_account_view(rt, index) for index in rt.brokers.indexes()]
    broker = rt.brokers.broker(query.account_index or 0)
    if query.account_id is not None and query.account_id != broker.account_id:
        raise UnknownAccount(f"trader_index {query.account_index} is now account {broker.account_id}, not {query.account_id}")
    if query.what == "quote":  # for the door, which prices a market order at the day's upper limit (common.rules.risk)
        quote = broker.quote(instrument(query.symbol or "").code)
        if quote is not None:
            quotes.remember(rt.redis, quote)
        return asdict(quote) if quote else None
    if query.what == "asset":
        view = portfolio_view(broker.query_asset(), broker.query_positions())
        # the reverse-repo loans where the broker lists them (the simulator); None where it does not (QMT: the status page
        # then shows the repo code's position alone)
        loans = broker.repo_loans() if isinstance(broker, LendsRepo) else None
        view["repo_loans"] = None if loans is None else [repo_loan_view(loan) for loan in loans]
        return view
    if query.what == "positions":
        return [position_view(p) for p in broker.query_positions()]
    if query.what == "orders":
        return [order_view(o) for o in broker.query_orders(query.cancelable_only)]
    if query.what == "order":
        found = broker.query_order(query.order_id) if query.order_id is not None else None
        return order_view(found) if found else None
    return [trade_view(t) for t in broker.query_trades()]


def run_sim_day(payload: dict) -> dict:
    """Move the simulator on by `days` trading days, settling each (T+1 released, repo repaid, open orders end)."""
    roll = SimDayPayload.model_validate(payload)
    rt = runtime.current()
    job = get_current_job()
    target = job.meta.get("roll_to") if job is not None else None
    if target is None:
        target = rt.brokers.sim_day_after(roll.days)
        if job is not None:  # kept before any day is settled: run again (its worker died), it rolls to this day, not past it
            job.meta["roll_to"] = target
            job.save_meta()
    day = rt.brokers.roll_sim_until(target)
    audit.record(
        rt.redis, "sim.next_day", client_id=roll.meta.client_id, source=roll.meta.source, outcome="done", payload=payload, job_ids=[_job_id()]
    )
    log.info("simulator moved on %d trading day(s) to %s", roll.days, day)
    return {"days": roll.days, "day": day}


def _account_view(rt: runtime.Runtime, index: int) -> dict:
    broker = rt.brokers.broker(index)
    config = rt.settings.enabled_accounts[index]
    return {
        "index": index,
        "account_id": broker.account_id,
        "nick_name": config.nick_name,
        "account_type": config.account_type,
        "broker": rt.settings.BROKER,
        "connected": broker.connected,
    }
