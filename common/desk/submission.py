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
from collections.abc import Callable, Sequence
from typing import Literal, NoReturn

import redis

from common.config import clock
from common.config.settings import AccountConfig, Settings
from common.desk.callers import Caller, Idempotency, Queued
from common.desk.verdicts import RUNNING, Verdict, await_verdicts, verdicts_now
from common.desk.waiting import WaitingSlots
from common.rules import risk, routines
from common.rules.exceptions import (
    DuplicateJob,
    IdempotencyConflict,
    InvalidOrderSide,
    InvalidPrice,
    InvalidRequest,
    InvalidRoutine,
    JobNotFound,
    NoQuote,
    OrderNotFound,
    RateLimited,
    ReplayedRequest,
    RiskRejected,
    ScopeDenied,
    SimulatorOnly,
    UnknownAccount,
    WorkerUnanswered,
)
from common.rules.loose_types import Json, JsonObject, RedisReply
from common.rules.order_request import OrderRequest, Repo, Shares, wire_fields
from common.rules.orders import BUY, REPO_CODES, SELL, is_market, xt_price_type
from common.rules.orders import repo_codes as repo_codes_of
from common.rules.quote import Quote
from common.rules.risk import RiskLimits
from common.rules.routines import AllinRoutine, NhgRoutine
from common.rules.symbols import Board, check_volume, instrument, is_on_tick
from common.store import events, jobqueue, keys, quotes, replication, risk_state, routine_store, terminals
from common.store.events import Event, EventBase, JobEvent  # by name: in the Desk, `events` is also its method
from common.store.payloads import (
    CancelPayload,
    JobView,
    OrderPayload,
    QueryPayload,
    QueryWhat,
    SimDayPayload,
    idempotent_job_id,
    new_job_id,
)

WAIT_MAX_SECONDS = jobqueue.WAIT_MAX_SECONDS  # the longest a caller may hold a job's answer
REPLAYED_NOTHING_PLACED = (
    "request replayed: this signature was already accepted and its client_order_id has no order to answer with (it was "
    "refused), so nothing was done: send it again with a new signature to place it"
)
Side = Literal["buy", "sell"]
Payload = OrderPayload | CancelPayload  # what is counted against the rate caps
SHARED_QUERY_MAX_AGE = 10.0  # seconds: the oldest answer a query may ask to share (Desk.query's max_age)
ANSWERS_A_LIST_OR_OBJECT = frozenset({"asset", "positions", "orders", "trades"})  # a query whose None can only mean "not kept"


class Desk:
    """Every operation an entry point may perform; one per process, shared by its threads."""

    def __init__(self, settings: Settings, connection: redis.Redis):
        self.settings = settings
        self.redis = connection
        self.confirm = replication.confirm_of(settings)  # a job is said to exist once a replica has it (REDIS_WAIT_REPLICAS)
        self.waiting = WaitingSlots(settings.WAIT_SLOTS, settings.WAIT_SLOTS_PER_CLIENT)  # this process's budget for answers that wait

    # -- the door ----------------------------------------------------------------------------
    def account_at(self, index: int) -> AccountConfig:
        accounts = self.settings.enabled_accounts
        if not 0 <= index < len(accounts):
            raise UnknownAccount(f"trader_index {index} selects no enabled account ({len(accounts)} enabled)", "trader_index")
        return accounts[index]

    def reachable(self, caller: Caller) -> list[tuple[int, AccountConfig]]:
        """Every enabled account the caller may use, with its trader_index."""
        return [(i, a) for i, a in enumerate(self.settings.enabled_accounts) if caller.may_reach(i)]

    def target_accounts(self, caller: Caller, trader_index: int | None) -> list[tuple[int, AccountConfig]]:
        """The one account named, or every enabled account the caller may use (fan-out)."""
        if trader_index is not None:
            caller.require_account(trader_index)
            return [(trader_index, self.account_at(trader_index))]
        if caller.from_page:  # a page always names its account: a body lost on the way must not become every account
            raise InvalidRequest("trader_index is required: a request from a web page names the account it acts on", "trader_index")
        found = self.reachable(caller)
        if not found:
            raise UnknownAccount("no enabled account that this client may use", "trader_index")
        return found

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

    def _ttl(self, payload: Payload | QueryPayload | SimDayPayload) -> int:
        # a query's answer was given when it came (or its 503 named the job): it need not outlive a client's retry by much
        return self.settings.QUERY_RESULT_TTL if payload.kind == "query" else self.settings.JOB_TTL

    def _enqueue(
        self,
        payload: Payload | QueryPayload | SimDayPayload,
        job_id: str | None = None,
        fingerprint: str | None = None,
        terminal: terminals.Terminal | None = None,
        announce: events.EventBase | None = None,
    ) -> str:
        """Enqueue on the queues of the terminal that holds the payload's account (or `terminal`, for jobs of none)."""
        index = getattr(payload, "account_index", None)
        where = terminal or (terminals.of_account(self.settings, index) if index is not None else terminals.terminals(self.settings)[0])
        # a query is safe to ask again and changes nothing: it is not held up by a replica, so queries (the pages, the old
        # clients' reads) still answer while the replica is away; every job that acts waits for it (REDIS_WAIT_REPLICAS)
        confirm = None if payload.kind == "query" else self.confirm
        return jobqueue.enqueue(self.redis, payload, self._ttl(payload), job_id, fingerprint, where, announce, confirm)

    def next_sim_day(self, caller: Caller, days: int = 1) -> Queued:
        """Move the simulator on by `days` trading days (admin, BROKER=sim only): T+1 released, repo repaid, open orders end.

        A job like any other: it runs after the orders and cancels already queued.
        """
        caller.require("admin")
        if self.settings.BROKER != "sim":
            raise SimulatorOnly(f"the trading day can be moved only on the simulator; BROKER is {self.settings.BROKER}")
        payload = SimDayPayload(days=days, meta=caller.meta())
        return Queued(tuple((None, self._enqueue(payload, terminal=terminal)) for terminal in terminals.terminals(self.settings)))

    # -- queries and jobs ----------------------------------------------------------------------
    def query(
        self,
        caller: Caller,
        what: QueryWhat,
        trader_index: int | None = None,
        *,
        max_age: float = 0.0,
        order_id: int | None = None,
        cancelable_only: bool = False,
        symbol: str | None = None,
    ) -> Json:  # the worker's JSON answer (a list or an object by `what`), as the old server's clients read it
        """Ask the worker (accounts, asset, positions, orders, order, trades) and wait up to QUERY_TIMEOUT seconds.

        `max_age` > 0 (at most SHARED_QUERY_MAX_AGE): an answer up to that many seconds old will do, so every caller
        asking the same within that time shares one query job (20 open status pages cost the worker one).
        Raises WorkerUnanswered, naming the job id, when the worker fails or does not answer in time.
        """
        caller.require("query")
        if not 0 <= max_age <= SHARED_QUERY_MAX_AGE:
            raise InvalidRequest(f"max_age must be between 0 and {SHARED_QUERY_MAX_AGE:g} seconds", "max_age")
        account_id = None
        if trader_index is not None:
            [(trader_index, account)] = self.target_accounts(caller, trader_index)
            account_id = account.account_id
        payload = QueryPayload(
            what=what, account_index=trader_index, account_id=account_id, order_id=order_id, cancelable_only=cancelable_only,
            symbol=symbol, meta=caller.meta(),
        )  # fmt: skip
        if what == "accounts":  # every terminal's worker answers for its own accounts
            asked = [self._query_job(caller, payload, terminal=terminal) for terminal in terminals.terminals(self.settings)]
            found = [a for job_id in asked for a in self._answer(caller, job_id) or []]
            return sorted((a for a in found if caller.may_reach(a["index"])), key=lambda a: a["index"])
        job_id = self._shared_query(caller, payload, max_age) if max_age else self._query_job(caller, payload)
        result = self._answer(caller, job_id)
        if what == "order" and result is None:
            raise OrderNotFound(f"no order {order_id} today on trader_index {trader_index}", "order_id")
        if result is None and what in ANSWERS_A_LIST_OR_OBJECT:  # its result no longer kept: never an empty answer made up
            raise WorkerUnanswered(f"the worker's answer to query job {job_id} is no longer kept; ask again", job_id=job_id, retry_after=1)
        return result

    def _query_job(self, caller: Caller, payload: QueryPayload, terminal: terminals.Terminal | None = None) -> str:
        """Queue a new query job, counted against the caller's QUERY_RATE_PER_CLIENT (shared across web processes):
        past it, RateLimited (429, Retry-After 1) and nothing queued, so one client's crowd of readers never fills the
        worker's query queue ahead of everyone else's."""
        cap = self.settings.QUERY_RATE_PER_CLIENT
        if cap:
            key = keys.query_rate(caller.waiting_key, int(clock.time()))
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 5)
                asked, _ = pipe.execute()
            if asked > cap:
                raise RateLimited(
                    f"more than {cap} queries in one second from {caller.waiting_key} (QUERY_RATE_PER_CLIENT): ask again in a second", retry_after=1
                )
        return self._enqueue(payload, terminal=terminal)

    def _answer(self, caller: Caller, job_id: str) -> Json:
        """A query job's result once the worker answered, within QUERY_TIMEOUT; WorkerUnanswered naming the job otherwise.

        The wait holds a web thread, so it takes a waiting slot (common.desk.waiting) as every other wait does: with none
        free, WorkerUnanswered at once (503 with the job id and Retry-After), never a thread held outside the budget."""
        with self.waiting.slot(caller.waiting_key) as granted:
            if not granted:
                raise WorkerUnanswered(
                    f"too many answers are waiting right now (WAIT_SLOTS); the query is queued as job {job_id}: poll it, or ask again shortly",
                    job_id=job_id,
                    retry_after=1,
                )
            job = jobqueue.wait(self.redis, job_id, self.settings.QUERY_TIMEOUT)
        if job.status == "failed":
            raise WorkerUnanswered(f"the worker could not answer: {job.error}", job_id=job_id)
        if job.status != "finished":
            raise WorkerUnanswered(
                f"the worker did not answer within {self.settings.QUERY_TIMEOUT:g} s; the query is still queued", job_id=job_id, retry_after=1
            )
        return job.result

    def _shared_query(self, caller: Caller, payload: QueryPayload, max_age: float) -> str:
        """The latest query job queued for the same question, if it was queued within `max_age` seconds; else a new one.

        The new one becomes the latest, for others to share. Two callers at once may both queue one: harmless.
        """
        question = payload.model_dump(mode="json", exclude={"meta"})
        key = keys.shared_query(hashlib.sha256(json.dumps(question, sort_keys=True).encode()).hexdigest()[:24])
        found: RedisReply = self.redis.get(key)
        if found is not None:
            shared: str = found.decode()
            job_id, _, queued_at = shared.partition(" ")
            if clock.time() - float(queued_at or 0) <= max_age and jobqueue.exists(self.redis, job_id):
                return job_id
        job_id = self._query_job(caller, payload)
        self.redis.set(key, f"{job_id} {clock.time()}", px=int(SHARED_QUERY_MAX_AGE * 1000))
        return job_id

    def job(self, caller: Caller, job_id: str, wait: float = 0.0) -> JobView:
        """A job as the caller may see it; with `wait` (0 to 30 s), once it has ended or the time is up.

        A wait takes a waiting slot (common.desk.waiting); with none left, the job as it stands now.
        """
        caller.require("query")
        if not 0 <= wait <= WAIT_MAX_SECONDS:
            raise InvalidRequest(f"wait must be between 0 and {WAIT_MAX_SECONDS} seconds", "wait")
        job = jobqueue.view(self.redis, job_id)
        if not caller.sees_every_job and job.client_id != caller.client_id:
            raise JobNotFound(f"no job {job_id}")
        if job.account_index is not None and not caller.may_reach(job.account_index):
            raise JobNotFound(f"no job {job_id}")  # another account's: not this caller's to see, admin or not
        if not wait or job.status not in RUNNING:
            return job
        with self.waiting.slot(caller.waiting_key) as granted:
            return jobqueue.wait(self.redis, job_id, wait) if granted else job

    def verdicts(self, caller: Caller, queued: Queued, seconds: float) -> list[Verdict] | None:
        """The broker's verdict on every job of `queued` once all are definite within `seconds` (≤ 30); None when time runs out."""
        known, missing = self.verdicts_within(caller, queued, seconds)
        return None if missing else [verdict for verdict in known if verdict is not None]

    def verdicts_within(self, caller: Caller, queued: Queued, seconds: float) -> tuple[list[Verdict | None], str]:
        """Each job's verdict after waiting up to `seconds` (≤ 30) for them all (None: not yet definite), and why not all
        came ("" when they did): the wait ran out, or no waiting slot (common.desk.waiting) was free, which answers at once."""
        with self.waiting.slot(caller.waiting_key) as granted:
            if granted:
                found = await_verdicts(self.redis, queued.jobs, seconds)
                if found is not None:
                    return list(found), ""
                why = f"the broker's verdict did not come within {seconds:g} s"
            else:
                why = "too many answers are waiting right now (WAIT_SLOTS), so this one did not wait"
        return verdicts_now(self.redis, queued.jobs), why

    def events(
        self, caller: Caller, after: str, limit: int, wait: float, kinds: Sequence[str] = (), keep: Callable[[EventBase], bool] | None = None
    ) -> tuple[list[tuple[str, Event]], str]:
        """Events after the cursor `after` that the caller may see (of `kinds`, or all; and that `keep` keeps: one
        account's, one job's — common.desk.event_filters), and the cursor to resume from.

        A signing client sees its own jobs' events and the system's; orders placed by hand in QMT (no job,
        no client) only admins and logged-in users. `wait` (≤ 30 s) draws on the waiting budget.
        """
        caller.require("query")
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000", "limit")
        if not 0 <= wait <= WAIT_MAX_SECONDS:
            raise InvalidRequest(f"wait must be between 0 and {WAIT_MAX_SECONDS} seconds", "wait")
        visible = self._visible_to(caller, kinds, keep)
        if not wait:
            return events.follow(self.redis, after, limit, 0, visible, kinds)
        with self.waiting.slot(caller.waiting_key) as granted:
            return events.follow(self.redis, after, limit, wait if granted else 0, visible, kinds)

    def recent_events(
        self, caller: Caller, last: int, kinds: Sequence[str] = (), keep: Callable[[EventBase], bool] | None = None
    ) -> tuple[list[tuple[str, Event]], str]:
        """The caller's `last` most recent events (of `kinds`, or all; that `keep` keeps), oldest first, and the cursor to follow on from."""
        caller.require("query")
        if not 1 <= last <= 1000:
            raise InvalidRequest("last must be between 1 and 1000", "last")
        return events.recent(self.redis, last, self._visible_to(caller, kinds, keep), kinds)

    def recent_jobs(self, caller: Caller, limit: int) -> list[tuple[JobEvent, JobView]]:
        """The caller's latest order and cancel jobs, newest first: each job's `accepted` event and its view now.

        A job whose result has expired (JOB_TTL) is left out.
        """
        caller.require("query")
        if not 1 <= limit <= 200:
            raise InvalidRequest("limit must be between 1 and 200", "limit")
        seen = self._visible_to(caller, ("job",))
        accepted, _ = events.recent(self.redis, limit, lambda e: seen(e) and isinstance(e, JobEvent) and e.stage == "accepted", ("job",))
        found = []
        for _, event in reversed(accepted):
            assert isinstance(event, JobEvent)
            try:
                found.append((event, jobqueue.view(self.redis, event.job_id)))
            except JobNotFound:
                continue
        return found

    def _visible_to(self, caller: Caller, kinds: Sequence[str] = (), keep: Callable[[EventBase], bool] | None = None) -> Callable[[EventBase], bool]:
        """Which events the caller may see (of `kinds`, or all, and that `keep` keeps): none of an account it may not use."""
        indexes = {account.account_id: index for index, account in enumerate(self.settings.enabled_accounts)}

        def visible(event: EventBase) -> bool:
            if kinds and event.kind not in kinds:
                return False
            if keep is not None and not keep(event):
                return False
            if caller.accounts is not None and event.account_id and not caller.may_reach(indexes.get(event.account_id, -1)):
                return False  # another account's: its orders, fills, statuses and jobs are not this caller's to see
            if caller.accounts is not None and isinstance(event, events.ConfigEvent):
                return False  # limits and routines of every account: only for callers of every account
            if caller.sees_every_job:
                return True
            if event.client_id:
                return event.client_id == caller.client_id
            return not isinstance(event, events.OrderFacts | events.BrokerRefusal)

        return visible

    def queue_depths(self) -> dict[str, int]:
        """Jobs waiting on each queue, in the worker's priority order."""
        return {name: jobqueue.queue(self.redis, name).count for terminal in terminals.terminals(self.settings) for name in terminal.queues}

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
