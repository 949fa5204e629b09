"""The typed order request: each size survives the payload's flat wire fields both ways, and a payload queued by the
version before (flat fields, no typed size) reads as the same typed size."""

from __future__ import annotations

import pytest

from common.rules.order_request import AllIn, OrderRequest, Percent, Repo, Shares, size_of, wire_fields
from common.rules.orders import BUY, SELL
from common.store.payloads import OrderPayload


@pytest.mark.parametrize("size", [Shares(300), Percent(0.25), AllIn(), Repo(50_000.0), Repo(0.0, ("204001.SH",))])
def test_every_size_survives_the_wire(size):
    assert size_of(wire_fields(size)) == size


def test_a_payload_queued_by_the_version_before_reads_as_its_typed_size():
    old = {"account_index": 0, "account_id": "55001234", "symbol": "131810.SZ", "order_type": 24, "volume": 0, "price": 0,
           "price_type": 0, "xt_price_type": 11, "sizing": "repo", "reserve_amount": 10_000, "deadline": 1.0}  # fmt: skip
    assert OrderPayload.model_validate(old).size == Repo(10_000.0)
    pct = {**old, "symbol": "600000.SH", "order_type": 23, "sizing": "position_pct", "position_pct": 0.1, "reserve_amount": 0}
    assert OrderPayload.model_validate(pct).size == Percent(0.1)


def test_only_a_given_volume_is_known_at_the_door():
    assert OrderRequest("600000", BUY, Shares(100), 10.0).volume == 100
    assert OrderRequest("600000", SELL, Percent(1.0)).volume is None
