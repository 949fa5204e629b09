"""What the Desk answers without placing anything: queries to the worker, a job's view and its verdicts, the events.

Every read checks what the caller may see (its accounts, its own jobs); every wait takes a waiting slot
(common.desk.waiting). The Desk (common.desk.submission) is built on this class.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace

from common.config import clock
from common.desk.callers import Caller, Queued
from common.desk.door import Door
from common.desk.verdicts import RUNNING, Verdict, await_verdicts, verdicts_now
from common.rules.exceptions import (
    InvalidRequest,
    JobNotFound,
    JobUnconfirmed,
    OrderNotFound,
    RateLimited,
    WorkerUnanswered,
)
from common.rules.loose_types import Json, RedisReply
from common.store import events, jobqueue, keys, replication, terminals
from common.store.events import Event, EventBase, JobEvent  # by name: in the Desk, `events` is also its method
from common.store.payloads import (
    JobView,
    QueryPayload,
    QueryWhat,
)

WAIT_MAX_SECONDS = jobqueue.WAIT_MAX_SECONDS  # the longest a caller may hold a job's answer
SHARED_QUERY_MAX_AGE = 10.0  # seconds: the oldest answer a query may ask to share (Desk.query's max_age)
POLL_AWAY_WAIT_MS = 50  # a poll's wait for the replicas while none confirmed the last time (Reads._replicas_have_it)
ANSWERS_A_LIST_OR_OBJECT = frozenset({"asset", "positions", "orders", "trades"})  # a query whose None can only mean "not kept"


class Reads(Door):
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
        if wait and job.status in RUNNING:
            with self.waiting.slot(caller.waiting_key) as granted:
                if granted:
                    job = jobqueue.wait(self.redis, job_id, wait)
        return self._confirmed(job)

    def _confirmed(self, job: JobView) -> JobView:
        """`job`, once a replica has everything written so far (REDIS_WAIT_REPLICAS, REDIS_WAIT_MS): an answer that says a
        job exists, or how it ended, is never one a failover can take back. JobUnconfirmed when none confirms in time.
        A query job is told at once: it changes nothing, is queued without a replica (Door._enqueue), and its 503 tells
        the client to poll it, so it must answer while the replica is away."""
        if job.kind == "query" or self._replicas_have_it():
            return job
        raise JobUnconfirmed(
            f"job {job.job_id} is {job.status} on the Redis master, but {self._unconfirmed_why()}: poll it again", job_id=job.job_id, retry_after=1
        )

    def _replicas_have_it(self) -> bool:
        """Has a replica everything written so far (the barrier), or are none waited for (REDIS_WAIT_REPLICAS=0)?

        While none confirmed the last time, a poll waits only POLL_AWAY_WAIT_MS (a replica that is back acknowledges
        within a round trip), so a crowd of clients polling every second does not hold the web's threads REDIS_WAIT_MS
        each while the replica is away."""
        if self.confirm is None:
            return True
        confirm = self.confirm if self._replicas_answered else replace(self.confirm, timeout_ms=min(self.confirm.timeout_ms, POLL_AWAY_WAIT_MS))
        self._replicas_answered = replication.barrier(self.redis, confirm)
        return self._replicas_answered

    def _unconfirmed_why(self) -> str:
        assert self.confirm is not None
        return (
            f"{self.confirm.replicas} replica(s) did not confirm it within {self.confirm.timeout_ms} ms (REDIS_WAIT_REPLICAS, REDIS_WAIT_MS), "
            "so a failover now could still change it"
        )

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
                    return self._confirmed_verdicts(list(found), "")
                why = f"the broker's verdict did not come within {seconds:g} s"
            else:
                why = "too many answers are waiting right now (WAIT_SLOTS), so this one did not wait"
        return self._confirmed_verdicts(verdicts_now(self.redis, queued.jobs), why)

    def _confirmed_verdicts(self, known: list[Verdict | None], why: str) -> tuple[list[Verdict | None], str]:
        """`known`, once a replica has everything written so far, as GET /jobs/<id> tells a job (_confirmed); else none is
        told: an end only the master holds (say "never sent") could be taken back by a failover and the order sent yet."""
        if all(verdict is None for verdict in known) or self._replicas_have_it():
            return known, why
        return [None] * len(known), f"the jobs' ends are on the Redis master, but {self._unconfirmed_why()}"

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
        if found and not self._replicas_have_it():  # each job's state, as GET /jobs/<id> tells it: once a replica has it
            raise JobUnconfirmed(f"the jobs' states are on the Redis master, but {self._unconfirmed_why()}: ask again", retry_after=1)
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
