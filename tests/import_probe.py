"""Run as a script in a fresh interpreter: import modules with the network blocked, and report what happened.

    python -m tests.import_probe REPORT.json MODULE [MODULE ...]     (from the project root)

MODULE is a dotted name, or `PACKAGE.*` for the package and every module under it (`__main__`
modules excepted: they start servers). Every network entry point of `socket` is replaced by one
that records the attempt and raises, so nothing leaves the machine even when an import misbehaves.
The report (JSON, written to a file so the probe's own stdout and stderr stay for the imports to
fill) says which network calls were attempted, whether `xtquant` ended up imported, and whether a
later `import requests` still gets the real package.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

attempts: list[str] = []  # one line per blocked network call, e.g. "getaddrinfo ('pypi.org', 443)"


def _blocked(name: str):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = args[1:] if name.startswith("socket.") else args  # drop the socket object itself
        attempts.append(f"{name} {target!r}"[:200])
        raise OSError(f"network blocked by {Path(__file__).name}: {name}")

    return refuse


def block_network() -> None:
    """Every way a library reaches another host (DNS included) records the attempt and raises."""
    socket.socket.connect = _blocked("socket.connect")
    socket.socket.connect_ex = _blocked("socket.connect_ex")
    socket.create_connection = _blocked("create_connection")
    socket.getaddrinfo = _blocked("getaddrinfo")
    socket.gethostbyname = _blocked("gethostbyname")


def module_names(spec: str) -> list[str]:
    """`spec` itself, or for `PACKAGE.*` the package and every module under it except `__main__`."""
    if not spec.endswith(".*"):
        return [spec]
    package = importlib.import_module(spec[:-2])
    found = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            found.append(info.name)
    return found


def main(report: str, specs: list[str]) -> None:
    block_network()
    imported: list[str] = []
    requests_swapped = False  # a module that was in sys.modules["requests"] got replaced by another
    for spec in specs:
        for name in module_names(spec):
            before = sys.modules.get("requests")
            importlib.import_module(name)
            imported.append(name)
            requests_swapped |= before is not None and sys.modules.get("requests") is not before
    requests = importlib.import_module("requests")
    result = {
        "imported": imported,
        "network_attempts": attempts,
        "xtquant_imported": "xtquant" in sys.modules,
        "requests_is_real": callable(getattr(requests, "get", None)),
        "requests_swapped": requests_swapped,
    }
    Path(report).write_text(json.dumps(result), encoding="utf-8")


def run_probe(tmp_path: Path, *specs: str) -> tuple[dict, str]:
    """Run this probe in a fresh interpreter (nothing imported yet); its report, and all it printed."""
    report = tmp_path / "import-probe.json"
    done = subprocess.run([sys.executable, "-m", "tests.import_probe", str(report), *specs], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text(encoding="utf-8")), done.stdout + done.stderr


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
