"""Terminals: which QMT terminal holds each account, and each terminal's queues, heartbeat and lease.

An account's terminal is its TRADER_CONFIGS `terminal`, else one terminal per distinct `qmt_path`.
With a single terminal its name is "default" and its queues keep the plain names (cancel, order,
query), so a one-terminal deployment never changes. With several, each terminal has its own
queues (`order@<name>`, ...) served by a worker started with `--terminal <name>`; jobs queued on the
plain queues before the move are carried to their account's terminal by the first worker that starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from common import keys
from common.exceptions import ConfigError

DEFAULT = "default"


@dataclass(frozen=True)
class Terminal:
    """One QMT terminal: its name and the trader_indexes of the accounts it holds."""

    name: str
    accounts: tuple[int, ...]

    def queue(self, kind: str) -> str:
        """The name of this terminal's `kind` queue (cancel, order or query)."""
        return kind if self.name == DEFAULT else f"{kind}@{self.name}"

    @property
    def queues(self) -> tuple[str, ...]:
        """Its queues in the worker's priority order: cancel before order before query."""
        return tuple(self.queue(kind) for kind in keys.QUEUES_BY_PRIORITY)

    @property
    def heartbeat_key(self) -> str:
        return keys.WORKER_HEARTBEAT if self.name == DEFAULT else keys.worker_heartbeat(self.name)

    @property
    def lease_key(self) -> str:
        return keys.worker_lease(self.name)


def _derived_name(qmt_path: str) -> str:
    """A stable name for a terminal known only by its path (set `terminal` in TRADER_CONFIGS for a readable one)."""
    return "t-" + hashlib.sha1(qmt_path.encode()).hexdigest()[:6]


def terminals(settings: Any) -> list[Terminal]:
    """Every terminal of the enabled accounts, in the order of their first account."""
    groups: dict[str, list[int]] = {}
    for index, account in enumerate(settings.enabled_accounts):
        groups.setdefault(account.terminal or f"path:{account.qmt_path}", []).append(index)
    if len(groups) == 1:
        return [Terminal(DEFAULT, tuple(next(iter(groups.values()))))]
    return [Terminal(_derived_name(key[5:]) if key.startswith("path:") else key, tuple(indexes)) for key, indexes in groups.items()]


def of_account(settings: Any, index: int) -> Terminal:
    """The terminal holding trader_index `index`."""
    for terminal in terminals(settings):
        if index in terminal.accounts:
            return terminal
    raise ConfigError(f"trader_index {index} belongs to no terminal")


def named(settings: Any, name: str | None) -> Terminal:
    """The terminal a worker serves: `name`, or the only one configured. Raises ConfigError naming the choices."""
    found = terminals(settings)
    if name is None:
        if len(found) == 1:
            return found[0]
        raise ConfigError(f"TRADER_CONFIGS has {len(found)} terminals ({', '.join(t.name for t in found)}): start each worker with --terminal NAME")
    for terminal in found:
        if terminal.name == name:
            return terminal
    raise ConfigError(f"--terminal {name!r} is not in TRADER_CONFIGS; its terminals are: {', '.join(t.name for t in found)}")
