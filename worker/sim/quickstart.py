"""`python run.py quickstart` (or `python -m worker.sim.quickstart` in .venv): xtquant's official quick-start on the simulator.

The script is read from the installed package's own documentation (xtquant/doc/xttrader.md) and
run with only its import line changed; run_forever returns after a few seconds here so the demo
ends. The script's own path is a Windows terminal folder (D:\\...\\userdata_mini): the simulator
keeps the demo's books under SIM_DATA_DIR/quickstart instead, never in the current folder.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Unpack

import worker.sim
from worker.sim.trader import SimConfig, SimTrader
from worker.xtquant_sdk import PACKAGE_DIR

ORIGINAL_IMPORT = "from xtquant.xttrader import XtQuantTrader, XtQuantTraderCallback"
SIMULATOR_IMPORT = "from worker.sim import XtQuantTrader, XtQuantTraderCallback"
DEMO_SECONDS = 3.0


def official_script() -> str:
    """The quick-start of xttrader.md (the first Python block under 快速入门), with its import line changed."""
    doc = (PACKAGE_DIR / "doc" / "xttrader.md").read_text(encoding="utf-8")
    section = doc[doc.index("## 快速入门") :]
    block = re.search(r"```Python\n(.*?)```", section, re.S)
    if block is None:
        raise RuntimeError("the quick-start has no Python block in this xtquant release")
    script = block.group(1)
    if ORIGINAL_IMPORT not in script:
        raise RuntimeError("the quick-start's import line changed in this xtquant release")
    return script.replace(ORIGINAL_IMPORT, SIMULATOR_IMPORT)


class DemoTrader(SimTrader):
    """The quick-start's trader: books under `data_dir`, and a run_forever that ends the demo."""

    data_dir = "var/sim"  # set from SIM_DATA_DIR by main()

    def __init__(self, path: str, session: int, callback: object = None, **config: Unpack[SimConfig]) -> None:  # noqa: ARG002 - XtQuantTrader's; the books go under data_dir
        super().__init__(str(Path(self.data_dir) / "quickstart"), session, callback, **config)

    def run_forever(self) -> None:
        self._stopped.wait(DEMO_SECONDS)
        self.stop()


def main() -> int:
    from common.config.settings import load_settings
    from common.roles import refuse_start
    from common.rules.exceptions import ConfigError

    try:
        DemoTrader.data_dir = load_settings().SIM_DATA_DIR
    except ConfigError as error:
        refuse_start("quickstart", error.message)
    worker.sim.XtQuantTrader = DemoTrader
    exec(compile(official_script(), "xttrader.md quick-start", "exec"), {"__name__": "__main__"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
