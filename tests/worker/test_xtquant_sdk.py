"""worker.xtquant_sdk: importing the broker SDK through it never reaches the network and prints nothing."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.import_probe import ROOT, run_probe
from worker import xtquant_sdk

# Every module that uses xtquant (the door itself not first, so no module leans on it being loaded), then all of worker/.
WORKER_MODULES = (
    "worker.broker",
    "worker.callbacks",
    "worker.quotes",
    "worker.sim",
    "worker.sim.quickstart",
    "worker.runner",
    "worker.jobs",
    "worker.sends",
    "worker.*",
)
PROJECT_DIRS = ("api", "common", "scheduler", "worker", "tests")
SDK_DOOR = Path("worker/xtquant_sdk.py")


@pytest.fixture(autouse=True)
def requests_is_importable():
    assert importlib.util.find_spec("requests") is not None, "without requests xtquant's update check never runs"


def direct_xtquant_imports(source: str) -> list[int]:
    """Line numbers of `import xtquant...` / `from xtquant... import` statements in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Import)
            and any(alias.name.split(".")[0] == "xtquant" for alias in node.names)
            or isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "xtquant"
        ):
            found.append(node.lineno)
    return found


def test_only_the_sdk_door_imports_xtquant():
    offenders = []
    for directory in PROJECT_DIRS:
        for file in sorted((ROOT / directory).rglob("*.py")):
            relative = file.relative_to(ROOT)
            if relative != SDK_DOOR:
                offenders += [f"{relative}:{line}" for line in direct_xtquant_imports(file.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_import_finder_sees_both_forms():
    assert direct_xtquant_imports("import xtquant\nfrom xtquant.xttype import StockAccount\nfrom . import x\n") == [1, 2]


def test_the_worker_imports_xtquant_offline_and_silently(tmp_path):
    report, printed = run_probe(tmp_path, *WORKER_MODULES)
    assert report["xtquant_imported"]
    assert report["network_attempts"] == []
    assert printed == ""
    assert report["requests_is_real"]  # a later `import requests` gets the real package


def test_an_already_imported_requests_is_left_in_place(tmp_path):
    report, printed = run_probe(tmp_path, "requests", "worker.xtquant_sdk", "worker.sim")
    assert report["network_attempts"] == [] and printed == ""
    assert not report["requests_swapped"] and report["requests_is_real"]


def test_importing_xtquant_directly_does_reach_for_the_network(tmp_path):
    """The control: without the SDK door the probe sees xtquant's update check try to connect."""
    report, _ = run_probe(tmp_path, "xtquant")
    assert report["xtquant_imported"]
    assert any("pypi.org" in attempt for attempt in report["network_attempts"]), report["network_attempts"]


def test_the_quick_start_reads_the_installed_packages_doc():
    from worker.sim.quickstart import SIMULATOR_IMPORT, official_script

    assert SIMULATOR_IMPORT in official_script()
    assert (xtquant_sdk.PACKAGE_DIR / "xttrader.py").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="QMT's native clients load on Windows")
def test_the_trader_and_market_data_raise_import_error_without_qmt():
    with pytest.raises(ImportError):
        xtquant_sdk.trader_class()
    with pytest.raises(ImportError):
        xtquant_sdk.market_data()
