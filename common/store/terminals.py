"""Terminals: which QMT terminal holds each account, and each terminal's queues, heartbeat and lease.

An account's terminal is its TRADER_CONFIGS `terminal`, else one terminal per distinct `qmt_path`.
With a single terminal its name is "default" and its queues keep the plain names (cancel, order,
query), so a one-terminal deployment never changes. With several, each terminal has its own
queues (`order@<name>`, ...); `python -m worker` serves every terminal (a process each), `--terminal
<name>` one. A terminal without a `terminal` key is named after its QMT install's folder. Jobs queued on
the plain queues, or on a terminal's queues under the name an earlier version gave it, are carried to
their terminal's queues by the first worker that starts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from common.config.settings import Settings
from common.rules.exceptions import ConfigError
from common.store import keys

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


def legacy_name(qmt_path: str) -> str:
    """The name an earlier version derived for a terminal known only by its path (its queues may still hold jobs)."""
    return "t-" + hashlib.sha1(qmt_path.encode()).hexdigest()[:6]


_DATA_FOLDERS = ("userdata_mini", "userdata")  # where a QMT install keeps its data: the folder above names the install


def _readable_name(qmt_path: str) -> str:
    """A name a person recognises for a terminal known only by its path: the QMT install's folder, e.g.
    `D:/国金证券QMT交易端/userdata_mini` -> `国金证券QMT交易端`; letters, digits, `.`, `_` and `-` only."""
    parts = [part for part in re.split(r"[\\/]+", qmt_path.strip()) if part and not re.fullmatch(r"[A-Za-z]:", part)]
    if len(parts) > 1 and parts[-1].lower() in _DATA_FOLDERS:
        parts = parts[:-1]
    return re.sub(r"[^\w.-]+", "-", parts[-1] if parts else "").strip("-.") or "qmt"


def terminals(settings: Settings) -> list[Terminal]:
    """Every terminal of the enabled accounts, in the order of their first account; names unique within the config."""
    groups: dict[str, list[int]] = {}
    for index, account in enumerate(settings.enabled_accounts):
        groups.setdefault(account.terminal or f"path:{account.qmt_path}", []).append(index)
    if len(groups) == 1:
        return [Terminal(DEFAULT, tuple(next(iter(groups.values()))))]
    found: list[Terminal] = []
    taken = {key for key in groups if not key.startswith("path:")}
    for key, indexes in groups.items():
        name = key
        if key.startswith("path:"):
            base = name = _readable_name(key[5:])
            for number in range(2, len(groups) + 2):
                if name not in taken:
                    break
                name = f"{base}-{number}"
        taken.add(name)
        found.append(Terminal(name, tuple(indexes)))
    return found


def legacy_names(settings: Settings) -> dict[str, str]:
    """{the name an earlier version gave a terminal known by its path: its name now}, where the two differ."""
    now = {t.accounts: t.name for t in terminals(settings)}
    before: dict[str, str] = {}
    for account_indexes, name in now.items():
        account = settings.enabled_accounts[account_indexes[0]]
        if not account.terminal and len(now) > 1:
            before[legacy_name(account.qmt_path)] = name
    return before


def of_account(settings: Settings, index: int) -> Terminal:
    """The terminal holding trader_index `index`."""
    for terminal in terminals(settings):
        if index in terminal.accounts:
            return terminal
    raise ConfigError(f"trader_index {index} belongs to no terminal")


def named(settings: Settings, name: str | None) -> Terminal:
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
