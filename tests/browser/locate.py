"""Where the browser tests find a Chromium-based browser: ROUTER_CHROMIUM, else an installed Chromium, Chrome or Edge.

Nothing is downloaded: Playwright drives whatever is found with `executable_path`. `python run.py test` says in one
line before the run when there is none, and how to install one on this system.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge", "microsoft-edge-stable", "msedge", "chrome")
PLACES = (
    "/usr/bin/chromium",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
    r"C:\Program Files\Microsoft\Edge\Application\msedge.exe",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)


def find_browser() -> str | None:
    """The browser's executable: ROUTER_CHROMIUM when set, else the first installed one found; None when there is none."""
    if os.environ.get("ROUTER_CHROMIUM"):
        return os.environ["ROUTER_CHROMIUM"]
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return next((place for place in PLACES if Path(place).is_file()), None)


def how_to_install() -> str:
    """The one line that says what to install on this system."""
    if sys.platform.startswith("win"):
        return "install Google Chrome or use Microsoft Edge (Windows ships it), or set ROUTER_CHROMIUM to a chrome.exe/msedge.exe"
    if sys.platform == "darwin":
        return "install Google Chrome (brew install --cask google-chrome), or set ROUTER_CHROMIUM"
    return "install Chromium (Debian/Ubuntu: sudo apt-get install -y chromium; Fedora: sudo dnf install chromium), or set ROUTER_CHROMIUM"
