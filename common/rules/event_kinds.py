"""The kinds of event the stream carries (the models are common.store.events; a test keeps the two the same).

Here, below the configuration, so NOTIFY_EVENTS is checked against them when the settings load."""

from __future__ import annotations

KINDS = frozenset(
    {
        "account_status",
        "calendar",
        "cancel_error",
        "config",
        "connected",
        "disconnected",
        "job",
        "kill_switch",
        "order",
        "order_error",
        "risk",
        "routine",
        "trade",
        "worker",
    }
)
