"""What a run with faults checks at its end, through the router's own API: every order that got a 202 is definite (it
ended, `unknown` only naming its tag), and none is at the broker twice (by the job tag in `order_remark`)."""

from __future__ import annotations

from tests.support import SignedHttpClient, wait_until

API = "/qmt/trade/api"


def settle(http: SignedHttpClient, job_ids: list[str], seconds: float, gone: set[str] | None = None) -> dict[str, dict]:
    """Each job's view once it ended with a result (polled every second for up to `seconds`); the ones that did not, left
    out. With `gone`, a job that answers 404 is put there and no longer waited for."""
    views: dict[str, dict] = {}

    def ended() -> bool:
        for job_id in job_ids:
            if job_id in views or (gone is not None and job_id in gone):
                continue
            answer = http.get(f"{API}/jobs/{job_id}")
            view = answer.body
            if gone is not None and answer.status == 404:
                gone.add(job_id)
            elif view.get("status") in ("finished", "failed", "expired") and isinstance(view.get("result"), dict):
                views[job_id] = view
        return len(views) + len(gone or ()) == len(job_ids)

    wait_until(ended, seconds, 1.0)
    return views


def indefinite(job_ids: list[str], views: dict[str, dict]) -> list[str]:
    """The jobs not definite: not ended, or `unknown` without their tag to look for."""
    return [
        j for j in job_ids if j not in views or (views[j]["result"].get("outcome") == "unknown" and j not in (views[j]["result"].get("error") or ""))
    ]


def broker_tags(http: SignedHttpClient, accounts: tuple[int, ...] = (0, 1)) -> dict[str, int]:
    """How many of today's orders at the broker carry each tag (order_remark), over `accounts`."""
    tags: dict[str, int] = {}
    for index in accounts:
        for order in http.post(f"{API}/orders", {"trader_index": index, "cancelable_only": False}).body.get("orders", []):
            tags[order["order_remark"]] = tags.get(order["order_remark"], 0) + 1
    return tags
