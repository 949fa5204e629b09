"""Who asks the Desk (a Caller), with which idempotency key (Idempotency), and what an action queued (Queued).

Plain values shared by every entry point: the web builds a Caller from a signature or a login, a scheduled
routine builds its own; common.desk.submission takes them in and answers with Queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.rules.exceptions import ScopeDenied
from common.store.payloads import JobMeta

# The waiting allowance all logged-in users' pages share (WAIT_SLOTS_PER_CLIENT): 20 open status pages never take
# the slots a signing client's job polls need (common.desk.waiting).
WEB_USERS = "web users"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a signing client, a logged-in web user (`user:<name>`) or an in-process routine."""

    client_id: str
    scopes: tuple[str, ...]
    accounts: tuple[int, ...] | None = None  # trader indexes it may use; None: all
    source: str = ""  # remote address; empty for in-process callers
    default_wait: float = 0.0  # seconds its order answers wait for the broker's verdict unless it asks otherwise
    from_page: bool = False  # a web page's session: a left-out trader_index never fans out to every account
    replay_only: bool = False  # a replayed signature with its client_order_id: it may hear of that key's jobs, never place any
    old_protocol: bool = False  # a client of the old server: an order answer whose verdict is not in is a failure, never a 202

    def may_reach(self, index: int) -> bool:
        """May this caller act on (or see) the account at trader_index `index`?"""
        return self.accounts is None or index in self.accounts

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ScopeDenied(f"client {self.client_id} lacks the {scope!r} scope")

    def require_account(self, index: int) -> None:
        if not self.may_reach(index):
            raise ScopeDenied(f"client {self.client_id} may not use trader_index {index}", "trader_index")

    @property
    def sees_every_job(self) -> bool:
        """Admins and logged-in users see every job (the status page); a signing client sees its own."""
        return "admin" in self.scopes or self.client_id.startswith("user:")

    @property
    def waiting_key(self) -> str:
        """Whose allowance of waiting slots a wait draws on: the client's own; every logged-in user's page shares one."""
        return WEB_USERS if self.client_id.startswith("user:") else self.client_id

    def meta(self) -> JobMeta:
        return JobMeta(client_id=self.client_id, source=self.source)


@dataclass(frozen=True)
class Queued:
    """The jobs one action put on the queues: (trader_index, job_id), one per target account, in account order.

    trader_index is None for a job of no one account (the simulator's day roll).
    """

    jobs: tuple[tuple[int | None, str], ...]
    replayed: bool = False  # an idempotent retry: these are the original jobs, nothing new was queued

    @property
    def job_ids(self) -> list[str]:
        return [job_id for _, job_id in self.jobs]


@dataclass(frozen=True)
class Idempotency:
    """A client's idempotency key and what makes two requests the same (None: the payloads decide)."""

    key: str
    fingerprint: str | None = None
