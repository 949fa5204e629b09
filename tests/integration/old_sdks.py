"""The two public SDKs of the old server, as they behave on the wire (written for these tests, not copied).

`BatchScript` is its `qmt_trader_client.py`: one function per side that POSTs position_pct to
/outer/trade/batch/<side> for every account, signing the sorted compact JSON it sends as the body.
`OrderHelper` is its `order_helper` (PrivateQMTOrderHelper): one account's orders, cancels and
queries; it signs the sorted compact JSON but sends `requests`' own serialisation (`json=`), and a
GET's URL always ends in "?" plus the query string. Neither looks at the HTTP status: each returns
the answer's JSON as it is, so what a user of them sees is exactly the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import requests


def _signature(secret: str, method: str, path: str, query: str, body: str, timestamp: str, client_id: str) -> str:
    text = "\n".join((method, path, query, body, timestamp, client_id))
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _headers(client_id: str, secret: str, method: str, path: str, body: str, query: str = "") -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Client-ID": client_id,
        "X-Timestamp": timestamp,
        "X-Signature": _signature(secret, method, path, query, body, timestamp, client_id),
    }


def _canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class BatchScript:
    """qmt_trader_client.py: call_buy / call_sell of position_pct on every account."""

    def __init__(self, base_url: str, client_id: str, secret: str):
        self.base_url, self.client_id, self.secret = base_url, client_id, secret
        self.last_status = 0  # what the script prints as 状态码; its caller only sees the JSON

    def call_buy(self, symbol: str, trade_price: float, position_pct: float = 0.1, strategy_name: str = "JQ_Q1") -> Any:
        return self.call_trade(symbol, trade_price, position_pct, "buy", strategy_name)

    def call_sell(self, symbol: str, trade_price: float, position_pct: float = 0.1, strategy_name: str = "JQ_Q1") -> Any:
        return self.call_trade(symbol, trade_price, position_pct, "sell", strategy_name)

    def call_trade(self, symbol: str, trade_price: float, position_pct: float, operation: str, strategy_name: str) -> Any:
        path = f"/qmt/trade/api/outer/trade/batch/{operation}"
        body = _canonical({"symbol": symbol[:6], "trade_price": trade_price, "position_pct": position_pct, "strategy_name": strategy_name})
        answer = requests.post(self.base_url + path, headers=_headers(self.client_id, self.secret, "POST", path, body), data=body, timeout=60)
        self.last_status = answer.status_code
        return answer.json()


class OrderHelper:
    """order_helper's PrivateQMTOrderHelper: one account (trader_index) and one strategy name."""

    def __init__(self, base_url: str, client_id: str, secret: str, trader_index: int = 0, strategy_name: str = "策略1"):
        self.base_url, self.client_id, self.secret = base_url, client_id, secret
        self.trader_index, self.strategy_name = trader_index, strategy_name
        self.last_status = 0
        self.last_timestamp = ""  # the X-Timestamp of the last request: two in one second sign alike

    def _post(self, path: str, data: dict) -> Any:
        headers = _headers(self.client_id, self.secret, "POST", path, _canonical(data))
        self.last_timestamp = headers["X-Timestamp"]
        answer = requests.post(self.base_url + path, headers=headers, json=data, timeout=60)
        self.last_status = answer.status_code
        return answer.json()

    def _get(self, path: str, query: str = "") -> Any:
        answer = requests.get(f"{self.base_url}{path}?{query}", headers=_headers(self.client_id, self.secret, "GET", path, "", query), timeout=60)
        self.last_status = answer.status_code
        return answer.json()

    def call_trade(self, symbol_code: str, price: float, position_pct: float, operation: str = "buy", price_type: int = 0) -> Any:
        data = {
            "trader_index": self.trader_index,
            "symbol": symbol_code,
            "trade_price": price,
            "price_type": price_type,
            "position_pct": position_pct,
            "strategy_name": self.strategy_name,
        }
        return self._post(f"/qmt/trade/api/outer/trade/{operation}", data)

    def get_accounts(self) -> Any:
        return self._get("/qmt/trade/api/accounts")

    def get_portfolio(self) -> Any:
        return self._get(f"/qmt/trade/api/portfolio/{self.trader_index}").get("portfolio")

    def get_positions(self) -> Any:
        return self._get(f"/qmt/trade/api/positions/{self.trader_index}").get("positions")

    @property
    def hold_positions(self) -> Any:
        return [p for p in self.get_positions() if p.get("volume", 0) > 0 and not p.get("symbol").startswith(("13", "20"))]

    @property
    def cash(self) -> Any:
        return self.get_portfolio()["cash"]

    def trade_allin(self, symbol_code: str, cur_price: float) -> Any:
        return self._post("/qmt/trade/api/trade/allin", {"trader_index": self.trader_index, "symbol": symbol_code, "cur_price": cur_price})

    def nhg(self) -> Any:
        return self._post("/qmt/trade/api/trade/nhg", {"trader_index": self.trader_index})

    def cancel_all_orders_sale(self) -> Any:
        return self._post("/qmt/trade/api/cancel_orders/sale", {"trader_index": self.trader_index})

    def cancel_all_orders_buy(self) -> Any:
        return self._post("/qmt/trade/api/cancel_orders/buy", {"trader_index": self.trader_index})

    def cancel_order(self, order_id: int) -> Any:
        return self._post("/qmt/trade/api/cancel_order", {"order_id": order_id, "trader_index": self.trader_index})

    def query_order(self, order_id: int) -> Any:
        return self._post("/qmt/trade/api/order", {"order_id": order_id, "trader_index": self.trader_index})

    def query_orders(self, cancelable_only: bool = False) -> Any:
        return self._post("/qmt/trade/api/orders", {"trader_index": self.trader_index, "cancelable_only": cancelable_only})
