"""A worker whose sends of one code break on purpose: the Python run before the worker module (Roles.start's prelude)
wraps the simulator's order_stock for BROKEN so it dies (os._exit, as a SIGKILL would leave it), raises, or hangs,
before or after the broker took the order. Every other code is sent as usual."""

from __future__ import annotations

BROKEN = "000001.SZ"  # the one code whose sends the prelude breaks
ORDER = {"trader_index": 0, "symbol": BROKEN, "volume": 100, "price": 10.9, "order_type": 23}  # under the last 11.00: it rests


def prelude(when: str, what: str) -> str:
    """Wrap SimTrader.order_stock and order_stock_async (the worker sends with the async call when BROKER_IN_FLIGHT > 1)
    for BROKEN: `when` before|after the real send, `what` die|raise, or hang N seconds (`what` "hang:N") before the real
    send, which then goes through."""
    return (
        "import os, time\n"
        "from worker.sim.trader import SimTrader\n"
        "def breaking(placed):\n"
        "  def broken(self, account, stock_code, *args, **kwargs):\n"
        f"    if stock_code != {BROKEN!r}:\n"
        "        return placed(self, account, stock_code, *args, **kwargs)\n"
        f"    if {what!r}.startswith('hang:'):\n"
        f"        time.sleep(float({what!r}[5:]))\n"
        "        return placed(self, account, stock_code, *args, **kwargs)\n"
        f"    if {when!r} == 'after':\n"
        "        placed(self, account, stock_code, *args, **kwargs)\n"
        f"    if {what!r} == 'die':\n"
        "        os._exit(9)\n"
        "    raise OSError(28, 'No space left on device')\n"
        "  return broken\n"
        "SimTrader.order_stock = breaking(SimTrader.order_stock)\n"
        "SimTrader.order_stock_async = breaking(SimTrader.order_stock_async)\n"
    )
