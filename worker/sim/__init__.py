"""The QMT simulator: `SimTrader` stands in for xtquant.xttrader.XtQuantTrader (docs/internals.md, "Broker, simulator and xtquant").

`XtQuantTrader` and `XtQuantTraderCallback` are exported under xtquant's names, so a script written
for QMT runs against the simulator with only its import line changed.
"""

from worker.sim.callback import XtQuantTraderCallback
from worker.sim.trader import SimTrader

XtQuantTrader = SimTrader

__all__ = ["SimTrader", "XtQuantTrader", "XtQuantTraderCallback"]
