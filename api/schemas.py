"""The API's request and answer models: validation at the door and the source of /openapi.json."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.exceptions import InvalidSymbol
from common.orders import PriceType
from common.symbols import normalize


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class TradeRequest(_Request):
    """POST /trade with an explicit volume: the old server's first form."""

    trader_index: int = Field(ge=0, description="position of the account among enabled TRADER_CONFIGS")
    symbol: str = Field(description="e.g. 600000, 600000.SH, sh600000")
    volume: int = Field(gt=0, description="shares (张 for bonds and repo)")
    price: float = Field(ge=0, description="yuan; the rate in percent for repo; ignored by market price types")
    order_type: Literal[23, 24] = Field(description="23 buy, 24 sell (xtconstant STOCK_BUY / STOCK_SELL)")
    price_type: PriceType = Field(default=PriceType.LIMIT, description="0 limit, 1 latest, 2 best five then cancel, 3 own best, 5 counterparty best")
    strategy_name: str = Field(default="", max_length=64)

    @field_validator("symbol")
    @classmethod
    def _normalise(cls, value: str) -> str:
        try:
            return normalize(value)
        except InvalidSymbol as error:
            raise ValueError(error.message) from None


class Accepted(BaseModel):
    """202: the order is queued; poll status_url."""

    success: Literal[True] = True
    job_id: str
    status: Literal["queued"] = "queued"
    status_url: str


class Failure(BaseModel):
    success: Literal[False] = False
    error: str
    field: str | None = None
