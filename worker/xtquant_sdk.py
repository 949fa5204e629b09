"""The project's one door to the xtquant package (QMT's broker SDK), imported offline and silently.

xtquant's own `__init__` calls `check_for_update` on every first import: when `requests` imports,
it asks pypi.org for the latest version (10 s timeout) and prints the answer to stdout. A QMT host
without internet would stall at every worker start, and the test suite would send traffic off the
machine. This module imports the package once while `import requests` is made to fail (a `None`
entry in `sys.modules`, which is how Python documents blocking an import), so the check gives up
before it reaches the network, then puts `sys.modules` back as it was. No file of the installed
package is changed.

Project code imports xtquant only from here; `common/` never imports it at all.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_BLOCKED_FOR_UPDATE_CHECK = "requests"  # the first import check_for_update makes, before it connects


def _import_package_offline() -> ModuleType:
    """The `xtquant` package, imported while its update check cannot import `requests`.

    Runs once, as this module's body, under the import system's lock for this module, so threads
    importing it at once do not race. The `None` entry lasts only while xtquant's `__init__` runs
    (a few milliseconds: the check fails on its first line); another thread importing `requests` for the
    first time in exactly that instant would get ImportError.
    """
    package = sys.modules.get("xtquant")
    if package is not None:  # someone imported it already: its update check has run, nothing to prevent
        return package
    missing = object()
    saved = sys.modules.get(_BLOCKED_FOR_UPDATE_CHECK, missing)
    sys.modules[_BLOCKED_FOR_UPDATE_CHECK] = None  # `import requests` raises ImportError, which xtquant's bare except swallows
    try:
        return importlib.import_module("xtquant")
    finally:
        if saved is missing:
            sys.modules.pop(_BLOCKED_FOR_UPDATE_CHECK, None)
        else:
            sys.modules[_BLOCKED_FOR_UPDATE_CHECK] = saved  # the very module object other code already holds


_package = _import_package_offline()

# The package is in sys.modules now, so these submodule imports never run the update check.
from xtquant import xtconstant, xttype  # noqa: E402

PACKAGE_DIR = Path(_package.__file__).parent  # the installed package, e.g. for its own doc/xttrader.md


def trader_class() -> Any:
    """xtquant.xttrader.XtQuantTrader. Raises ImportError where QMT's native client cannot load (not Windows)."""
    return importlib.import_module("xtquant.xttrader").XtQuantTrader


def market_data() -> Any:
    """The xtquant.xtdata module (full ticks from QMT). Raises ImportError where QMT's data client cannot load."""
    return importlib.import_module("xtquant.xtdata")


__all__ = ["PACKAGE_DIR", "market_data", "trader_class", "xtconstant", "xttype"]
