"""Masking what identifies an account wherever it leaves the machine (logs, pages, DingTalk, metrics)."""

from __future__ import annotations


def mask_account(account_id: str) -> str:
    """`8881234567` -> `888****567`: enough to tell accounts apart, not enough to use one."""
    if len(account_id) <= 6:
        return "*" * len(account_id)
    return f"{account_id[:3]}{'*' * (len(account_id) - 6)}{account_id[-3:]}"
