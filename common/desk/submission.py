"""The one way in: every order, cancel and query, and the kill switch, whoever asks (API, pages, routines).

Plain arguments in: who is asking (a Caller), what, and an optional idempotency key. Plain results
out: the queued jobs (Queued), the query's answer, a job's view; or a typed refusal, one of the
`common.rules.exceptions` errors. The Desk does the door checks (target accounts and fan-out, symbol,
lot, tick, price type, deadline), builds the payloads, applies the risk limits and counters and
idempotency, and enqueues. It knows nothing of HTTP: `api` only authenticates, parses and
translates (docs/architecture.md, "The path of one order").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal, NoReturn

from common.config import clock
from common.config.settings import AccountConfig
from common.desk.callers import Caller, Idempotency, Queued
from common.desk.door import Payload
from common.desk.reads import SHARED_QUERY_MAX_AGE, Reads
from common.rules import risk, routines
from common.rules.exceptions import (
    DuplicateJob,
    IdempotencyConflict,
    InvalidOrderSide,
    InvalidPrice,
    InvalidRoutine,
    NoQuote,
    RateLimited,
    ReplayedRequest,
    RiskRejected,
    ScopeDenied,
    SimulatorOnly,
    WorkerUnanswered,
)
from common.rules.loose_types import JsonObject
from common.rules.order_request import OrderRequest, Repo, Shares, wire_fields
from common.rules.orders import BUY, REPO_CODES, SELL, is_market, xt_price_type
from common.rules.orders import repo_codes as repo_codes_of
from common.rules.quote import Quote
from common.rules.risk import RiskLimits
from common.rules.routines import AllinRoutine, NhgRoutine
from common.rules.symbols import Board, check_volume, instrument, is_on_tick
from common.store import events, jobqueue, quotes, risk_state, routine_store, terminals
from common.store.payloads import (
    CancelPayload,
    OrderPayload,
    QueryPayload,
    SimDayPayload,
    idempotent_job_id,
    new_job_id,
)

REPLAYED_NOTHING_PLACED = (
    "request replayed: this signature was already accepted and its client_order_id has no order to answer with (it was "
    "refused), so nothing was done: send it again with a new signature to place it"
)
Side = Literal["buy", "sell"]


class Desk(Reads):
    """Every operation an entry point may perform; one per process, shared by its threads (the door and the queue in
    common.desk.door, the queries, jobs and events in common.desk.reads, the orders, cancels, risk limits and routines here)."""

    # -- the door ----------------------------------------------------------------------------
    def order_payloads(self, caller: Caller, trader_index: int | None, request: OrderRequest) -> list[OrderPayload]:
        """Check an order as far as the door can know and build one payload per target account.

        Volumes in shares (张 for bonds and repo), prices in yuan; `price` 0 on a sized order
        (Percent, AllIn, Repo) takes the latest quote in the worker.
        """
        targets = self.target_accounts(caller, trader_index)
        inst = instrument(request.symbol)
        size, price = request.size, request.price
        if inst.board is Board.REPO and request.side == BUY:
            raise InvalidOrderSide(f"reverse repo {inst.code} is lent with a sell (order_type 24); buying it is borrowing", "order_type")
        xt_type = xt_price_type(request.price_type, inst)
        if isinstance(size, Shares):
            check_volume(inst, request.side, size.volume)  # repo lending amounts too, as the broker checks them
        if isinstance(size, Repo) and size.codes:
            size = Repo(size.reserve_amount, tuple(repo_codes_of(list(size.codes))))
        if 0 < price < float(inst.tick):
            raise InvalidPrice(f"price {price} is below one tick ({inst.tick}) of {inst.code}", "price")
        if not is_market(xt_type):
            if price <= 0 and isinstance(size, Shares):
                raise InvalidPrice("a limit order needs a price above 0", "price")
            if price > 0 and not is_on_tick(inst, price):
                raise InvalidPrice(f"price {price} is not on the {inst.tick} tick of {inst.code}", "price")
        deadline = clock.time() + self.settings.ORDER_TTL  # the worker compares it with the same clock
        meta = caller.meta()
        wire = wire_fields(size)
        return [
            OrderPayload(
                account_index=index,
                account_id=account.account_id,
                symbol=inst.code,
                order_type=request.side,
                volume=wire.volume,
                price=price,
                price_type=int(request.price_type),
                xt_price_type=xt_type,
                sizing=wire.sizing,
                position_pct=wire.position_pct,
                reserve_amount=wire.reserve_amount,
                repo_codes=wire.repo_codes,
                strategy_name=request.strategy_name,
                deadline=deadline,
                meta=meta,
            )
            for index, account in targets
        ]

    # -- orders and cancels --------------------------------------------------------------------
    def place(self, caller: Caller, trader_index: int | None, request: OrderRequest, *, idempotency: Idempotency | None = None) -> Queued:
        """Place an order on one account, or on every account the caller may use."""
        caller.require("trade")
        return self._submit(caller, self.order_payloads(caller, trader_index, request), idempotency)

    def sweep_repo(
        self,
        caller: Caller,
        trader_index: int | None,
        reserve_amount: float,
        *,
        repo_codes: list[str] | None = None,
        idempotency: Idempotency | None = None,
    ) -> Queued:
        """The nhg sweep: lend idle cash minus `reserve_amount` yuan in 1-day reverse repo, one job per account.

        Sized and priced (the best-quoted of `repo_codes`, default R-001 and GC001) in the worker, where the cash is known.
        """
        codes = repo_codes_of(repo_codes) if repo_codes else list(REPO_CODES)
        size = Repo(reserve_amount, tuple(repo_codes) if repo_codes else None)
        return self.place(caller, trader_index, OrderRequest(codes[0], SELL, size, strategy_name="nhg"), idempotency=idempotency)

    def cancel_order(self, caller: Caller, trader_index: int, order_id: int, *, idempotency: Idempotency | None = None) -> Queued:
        """Cancel one order by its broker order id."""
        caller.require("cancel")
        [(index, account)] = self.target_accounts(caller, trader_index)
        payload = CancelPayload(account_index=index, account_id=account.account_id, order_id=order_id, meta=caller.meta())
        return self._submit(caller, [payload], idempotency)

    def cancel_side(self, caller: Caller, trader_index: int | None, side: Side, *, idempotency: Idempotency | None = None) -> Queued:
        """Cancel every open order of one side, on one account or on every account the caller may use."""
        caller.require("cancel")
        return self._submit(caller, self._side_cancels(caller, self.target_accounts(caller, trader_index), side), idempotency)

    def kill_switch(self, caller: Caller, on: bool, cancel_open: bool = False) -> tuple[RiskLimits, Queued]:
        """Throw (or reset) the kill switch; with `cancel_open`, also cancel every open order of each account the caller
        may cancel on (the cancel scope, its own accounts): throwing stops everyone, its cancels touch only what is the caller's.

        Its cancels are not counted against the rate caps: stopping a runaway strategy is never refused.
        """
        if not on or "trade" not in caller.scopes:  # anyone who may trade may stop trading; only admins resume it
            caller.require("admin")
        if on and cancel_open and "admin" not in caller.scopes:
            caller.require("cancel")
        limits = risk_state.change(self.redis, kill_switch=on)
        queued: list[tuple[int, str]] = []
        if on and cancel_open:
            for side in ("buy", "sell"):
                cancels = self._side_cancels(caller, self.reachable(caller), side, kill_switch=True)
                queued += [(p.account_index, self._enqueue(p)) for p in cancels]
        events.append(self.redis, events.KillSwitchEvent(on=on, by=caller.client_id, job_ids=[job_id for _, job_id in queued]))
        return limits, Queued(tuple(queued))

    @staticmethod
    def _side_cancels(caller: Caller, targets: list[tuple[int, AccountConfig]], side: Side, kill_switch: bool = False) -> list[CancelPayload]:
        return [
            CancelPayload(account_index=index, account_id=account.account_id, side=side, kill_switch=kill_switch, meta=caller.meta())
            for index, account in targets
        ]

    def _submit(self, caller: Caller, payloads: Sequence[Payload], idempotency: Idempotency | None) -> Queued:
        """Risk-check, count and enqueue one job per payload, all or none, in one round trip to Redis.

        The orders are checked against the risk limits as this process last saw them; the enqueue confirms they are
        still the stored ones, or this checks again with the stored ones. With an idempotency key each job's id follows
        from the key, and a retry answers the original job(s), neither queued nor counted again.
        """
        fingerprint = None
        if idempotency is not None:
            fingerprint = idempotency.fingerprint or payload_fingerprint(payloads)
        ids = [
            idempotent_job_id(payload.kind, caller.client_id, idempotency.key, payload.account_index) if idempotency else new_job_id(payload.kind)
            for payload in payloads
        ]
        jobs = [
            jobqueue.Admit(
                payload,
                self._ttl(payload),
                job_id,
                fingerprint,
                terminals.of_account(self.settings, payload.account_index),
                announce=accepted_event(payload, job_id),
                counters=risk_state.counter_keys(payload.account_index),
            )  # fmt: skip
            for payload, job_id in zip(payloads, ids, strict=True)
        ]
        # an idempotent retry of jobs that exist is answered with them (the enqueue checks it is the same request): a
        # client retrying an accepted order after the kill switch was thrown must hear of its order, not a refusal
        retry = idempotency is not None and all(jobqueue.exists(self.redis, job_id) for job_id in ids)
        if caller.replay_only and not retry:  # a replayed signature never places anything (a refused order stays refused)
            raise ReplayedRequest(REPLAYED_NOTHING_PLACED)
        orders = [(p, self._cost(p)) for p in payloads if isinstance(p, OrderPayload)]
        quote = self._door_quote(caller, orders[0][0], orders[0][1]) if orders and not retry else None  # one symbol per request

        def attempt(raw: str, limits: RiskLimits) -> list[tuple[str, bool]]:
            if not retry:  # a retry of what was accepted answers the original jobs, whatever the limits say now
                for _, cost in orders:
                    risk.check_order(limits, cost, quote)
            try:
                caps = jobqueue.Caps(raw, limits.max_actions_per_second, limits.max_actions_per_day)
                return jobqueue.enqueue_all(self.redis, jobs, caps, self.confirm)
            except jobqueue.CapReached as capped:
                raise RateLimited(risk.cap_message(limits, payloads[capped.index].account_index, capped.which), "trader_index") from None

        try:
            queued = risk_state.checked(self.redis, attempt)
        except (RiskRejected, NoQuote) as refusal:
            self._refused(caller, payloads, refusal)
        except DuplicateJob as duplicate:
            assert idempotency is not None  # random ids never meet
            raise IdempotencyConflict(f"idempotency key {idempotency.key!r} was used for a different request (job {duplicate.job_id})") from None
        return Queued(tuple((payload.account_index, job_id) for payload, (job_id, _) in zip(payloads, queued, strict=True)),
                      any(retried for _, retried in queued))  # fmt: skip

    @staticmethod
    def _cost(order: OrderPayload) -> risk.OrderCost:
        """What the risk gate prices of an order at the door: its volume only when given (the worker sizes the rest)."""
        return risk.OrderCost(
            symbol=order.symbol,
            market=is_market(order.xt_price_type),
            volume=order.volume if isinstance(order.size, Shares) else None,
            limit_price=order.price,
            lending=isinstance(order.size, Repo) or instrument(order.symbol).board is Board.REPO,
        )

    def _door_quote(self, caller: Caller, order: OrderPayload, cost: risk.OrderCost) -> Quote | None:
        """The last quote the router has of the order's code when the gate needs one to price it (a market order under a
        notional cap); none read today: the worker is asked for one, waiting up to QUERY_TIMEOUT. None when not needed."""
        if not risk.needs_quote(risk_state.assumed(self.redis)[1], cost):
            return None
        found = quotes.last_known(self.redis, cost.symbol)
        if found is not None:
            return found
        payload = QueryPayload(what="quote", symbol=cost.symbol, account_index=order.account_index, account_id=order.account_id, meta=order.meta)
        try:
            answer = self._answer(caller, self._shared_query(caller, payload, SHARED_QUERY_MAX_AGE))
        except (WorkerUnanswered, RateLimited) as error:
            raise NoQuote(f"no quote for {cost.symbol} to price a market order at its upper limit: {error.message}", "symbol") from None
        return Quote(**answer) if answer else None

    def _refused(self, caller: Caller, payloads: Sequence[Payload], refusal: RiskRejected | NoQuote) -> NoReturn:
        first = payloads[0]
        symbol = first.symbol if isinstance(first, OrderPayload) else ""
        events.append(self.redis, events.RiskEvent(reason=refusal.message, client_id=caller.client_id, symbol=symbol,
                                                   account_id=first.account_id, account_index=first.account_index))  # fmt: skip
        raise refusal

    def next_sim_day(self, caller: Caller, days: int = 1) -> Queued:
        """Move the simulator on by `days` trading days (admin, BROKER=sim only): T+1 released, repo repaid, open orders end.

        A job like any other: it runs after the orders and cancels already queued.
        """
        caller.require("admin")
        if self.settings.BROKER != "sim":
            raise SimulatorOnly(f"the trading day can be moved only on the simulator; BROKER is {self.settings.BROKER}")
        payload = SimDayPayload(days=days, meta=caller.meta())
        return Queued(tuple((None, self._enqueue(payload, terminal=terminal)) for terminal in terminals.terminals(self.settings)))

    # -- risk limits ---------------------------------------------------------------------------
    def risk_limits(self) -> RiskLimits:
        return risk_state.load(self.redis)

    def change_risk_limits(self, caller: Caller, **change: risk_state.LimitValue) -> RiskLimits:
        """Change any subset of the limits (admin); what is left out stays as it is."""
        caller.require("admin")
        before, limits = risk_state.swap(self.redis, **change)
        was, now = before.model_dump(mode="json"), limits.model_dump(mode="json")  # as stored: 600000 is 600000.SH
        event = events.ConfigEvent(
            what="risk_limits", by=caller.client_id, change={name: now[name] for name in change}, before={name: was[name] for name in change}
        )
        events.append(self.redis, event)
        return limits

    def change_routines(self, caller: Caller, replacement: list[JsonObject]) -> None:
        """Replace every scheduled routine the caller may see (admin), validated as a whole (common.rules.routines).

        A caller limited to some accounts may write only routines acting on those alone (not "all"), and the routines it
        cannot see (acting on other accounts too) are kept as they are, never deleted by its replacement."""
        caller.require("admin")
        wanted = routines.validate(replacement)
        configured = len(self.settings.enabled_accounts)
        for routine in wanted:
            unknown = [index for index in routine.indexes(configured) if index >= configured]
            if unknown:
                raise InvalidRoutine(
                    f"routine {routine.name!r}: trader_index {unknown[0]} is not an enabled account (there are {configured}: 0 to {configured - 1})",
                    "accounts",
                )
            self.require_routine_reach(caller, routine)
        hidden = [r for r in routine_store.current(self.redis, self.settings.ROUTINES) if not self.reaches_routine(caller, r)]
        clash = sorted({r.name for r in hidden} & {r.name for r in wanted})
        if clash:
            raise ScopeDenied(f"routine {clash[0]!r} acts on accounts this client may not use", "routines")
        shown = [r for r in routine_store.current(self.redis, self.settings.ROUTINES) if self.reaches_routine(caller, r)]
        routine_store.save(self.redis, [*hidden, *wanted] if hidden else wanted)
        changes = routines.differences(shown, wanted)
        events.append(self.redis, events.ConfigEvent(what="routines", by=caller.client_id, change={"routines": replacement}, routines=changes))

    def reaches_routine(self, caller: Caller, routine: NhgRoutine | AllinRoutine) -> bool:
        """Does every account the routine acts on belong to the caller?"""
        return caller.accounts is None or all(caller.may_reach(i) for i in routine.indexes(len(self.settings.enabled_accounts)))

    def require_routine_reach(self, caller: Caller, routine: NhgRoutine | AllinRoutine) -> None:
        """ScopeDenied unless the caller may use every account the routine acts on ("all" only for an unlimited caller)."""
        if not self.reaches_routine(caller, routine) or (caller.accounts is not None and routine.accounts == "all"):
            raise ScopeDenied(
                f"routine {routine.name!r} acts on accounts this client may not use (it may use {list(caller.accounts or [])})", "routines"
            )

    def actions_today(self, caller: Caller) -> dict[int, int]:
        """Orders and cancels counted today, per trader_index the caller may see."""
        every = range(len(self.settings.enabled_accounts))
        return {index: risk_state.actions_today(self.redis, index) for index in every if caller.may_reach(index)}


def accepted_event(payload: Payload, job_id: str) -> events.JobEvent:
    """The event of a job accepted at the door (order or cancel)."""
    order = payload if isinstance(payload, OrderPayload) else None
    return events.JobEvent(
        stage="accepted",
        job_id=job_id,
        job_kind=payload.kind,
        client_id=payload.meta.client_id,
        account_id=payload.account_id,
        account_index=payload.account_index,
        symbol=order.symbol if order else "",
        side=("buy" if order.order_type == BUY else "sell") if order else (payload.side or "") if isinstance(payload, CancelPayload) else "",
        volume=order.volume if order else 0,
        price=order.price if order else 0.0,
    )


def payload_fingerprint(payloads: Sequence[Payload]) -> str:
    """What makes two in-process submissions the same: their payloads, less the moment and the deadline."""
    seen = [p.model_dump(mode="json", exclude={"meta": {"created_at"}, "deadline": True}) for p in payloads]
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()
