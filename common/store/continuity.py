"""Did Redis keep what it held? The store's id, and failing closed when Redis comes back without its data.

Every role puts a random id in Redis at start (`qmt:store:id`, SET NX) and keeps the id it saw: in memory, and in
VAR_DIR so that a role restarted with its Redis still knows the id it had. When the id is gone (Redis restarted
without its data: no AOF, a new machine) or another one is there, Redis has forgotten the risk limits, the kill
switch, idempotency and replay keys, routine markers and routine edits. The role that notices first throws the kill
switch with the reason (`RiskLimits.halted_because`): new orders are refused, saying why, routines do not fire,
cancels and queries still run, until an admin has set the limits and routines again and releases the switch.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import redis

from common.config import clock
from common.rules.loose_types import RedisReply
from common.store import events, keys, risk_state

log = logging.getLogger("router.continuity")
ID_FILE = "redis-store-id"  # in VAR_DIR: the id this machine's roles last saw in Redis


class Continuity:
    """One role's memory of the store's id."""

    def __init__(self, connection: redis.Redis, var_dir: str, role: str):
        self.connection = connection
        self.file = Path(var_dir) / ID_FILE
        self.role = role
        self.known: str | None = None

    def start(self) -> None:
        """At a role's start: put an id in Redis when there is none, and fail closed when it is not the one VAR_DIR kept."""
        kept = self._kept()
        current = self._current(create=True)
        if kept is not None and current != kept:
            self._lost(f"it holds another store id ({current}) than when this machine last saw it ({kept}): restarted empty, or replaced")
        self._adopt(current)

    def check(self) -> None:
        """While a role runs (every few seconds): fail closed when Redis lost what it held since the last check. Raises
        redis.RedisError when Redis does not answer (the caller's loop carries on)."""
        current = self._current(create=False)
        if current == self.known:
            return
        if current is None:  # nothing there: Redis came back empty; the process that puts the new id tells it once
            fresh = uuid.uuid4().hex
            if self.connection.set(keys.STORE_ID, fresh, nx=True):
                self._lost("it came back empty: restarted with nothing on disk (no AOF), or replaced")
                current = fresh
            else:
                current = self._current(create=False)
        self._adopt(current)

    def _current(self, create: bool) -> str | None:
        if create:
            self.connection.set(keys.STORE_ID, uuid.uuid4().hex, nx=True)
        raw: RedisReply = self.connection.get(keys.STORE_ID)
        return raw.decode() if isinstance(raw, bytes) else raw

    def _kept(self) -> str | None:
        try:
            return self.file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def _adopt(self, current: str | None) -> None:
        self.known = current
        if current is None:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text(current, encoding="utf-8")
        except OSError as error:
            log.warning("the Redis store id could not be kept in %s: %s", self.file, error)

    def _lost(self, what: str) -> None:
        if halted_by_loss(self.connection):
            return  # another role noticed first and said so
        reason = (
            f"Redis lost its data ({what}; noticed by the {self.role} at {clock.now():%Y-%m-%d %H:%M:%S} Shanghai time): "
            "its risk limits, kill switch, idempotency keys and "
            "routine records are gone. New orders are refused and routines do not fire until an admin sets the risk "
            "limits and routines again and releases the kill switch; cancels and queries still run"
        )
        log.error("fail closed: %s", reason)
        risk_state.change(self.connection, kill_switch=True, halted_because=reason)
        events.append(self.connection, events.KillSwitchEvent(on=True, by=f"router ({self.role})", reason=reason))


def halted_by_loss(connection: redis.Redis) -> str:
    """Why the router fails closed after Redis lost its data; "" when it does not."""
    return risk_state.load(connection).halted_because
