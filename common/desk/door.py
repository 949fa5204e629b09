"""The Desk's door and its one way onto the queues: the accounts a caller may act on and the enqueue of a payload.

The Desk (common.desk.submission) is built on this class, through common.desk.reads.
"""

from __future__ import annotations

import redis

from common.config.settings import AccountConfig, Settings
from common.desk.callers import Caller
from common.desk.waiting import WaitingSlots
from common.rules.exceptions import InvalidRequest, UnknownAccount
from common.store import events, jobqueue, replication, terminals
from common.store.payloads import CancelPayload, OrderPayload, QueryPayload, SimDayPayload

Payload = OrderPayload | CancelPayload  # what is counted against the rate caps


class Door:
    """The Desk's ground floor: its connection and settings, which accounts a caller reaches, and the queueing of a payload on
    its terminal's queues (with the replica's confirmation for every job that acts)."""

    def __init__(self, settings: Settings, connection: redis.Redis):
        self.settings = settings
        self.redis = connection
        self.confirm = replication.confirm_of(settings)  # a job is said to exist once a replica has it (REDIS_WAIT_REPLICAS)
        self._replicas_answered = True  # did the replicas confirm the last poll's barrier (common.desk.reads)?
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
