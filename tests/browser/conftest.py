"""Browser tests: Debian's headless Chromium driven by Playwright, against the roles as real processes on the real Redis.

No browser is downloaded: Playwright drives an installed Chromium, Chrome or Edge (tests/browser/locate.py; `.ci/run`
installs Debian's chromium when missing). Without one these tests fail, saying so; they never skip silently.
Screenshots of every page, at phone (390x844) and desktop (1280x800) width, go to the folder named by
ROUTER_SCREENSHOTS, or a pytest temporary folder (printed); never into the checkout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.locate import find_browser, how_to_install
from tests.integration.conftest import Roles, http, role_env, roles, wait_ready  # noqa: F401  (pytest finds fixtures by name)
from tests.support import SignedHttpClient

CHROMIUM = find_browser() or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ADMIN_PASSWORD = "admin-browser-pw"
TRADER_PASSWORD = "trader-browser-pw"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)  # a page refreshes a panel a few seconds after the event that concerns it
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests need Chromium, Chrome or Edge, and none is installed: {how_to_install()}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ["ROUTER_SCREENSHOTS"]) if os.environ.get("ROUTER_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder


@dataclass
class Site:
    """The router's pages at `url`, served by real processes; `http` signs like an old client."""

    url: str
    http: SignedHttpClient
    roles: Roles
    screenshots: Path

    def log_in(self, page, user: str) -> None:
        page.goto(f"{self.url}/login")
        page.select_option("#username", user)
        page.fill("#password", ADMIN_PASSWORD if user == "admin" else TRADER_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}/")

    def shoot(self, page, name: str) -> None:
        """The page at phone and at desktop width, whole; the viewport is left at desktop width."""
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            page.wait_for_timeout(150)  # let the layout settle at the new width before the picture
            page.screenshot(path=str(self.screenshots / f"{name}-{label}.png"), full_page=True)


@pytest.fixture
def site(roles, role_env, http, screenshots) -> Site:  # noqa: F811  (the imported fixtures)
    role_env.update(ADMIN_PASSWORD=ADMIN_PASSWORD, TRADER_PASSWORD=TRADER_PASSWORD)
    roles.start("worker")
    roles.start("api")
    roles.start("scheduler")
    wait_ready(http, roles)
    return Site(f"http://127.0.0.1:{role_env['FLASK_PORT']}", http, roles, screenshots)


@pytest.fixture
def new_page(browser) -> Iterator:
    """A fresh browser context (its own cookies) per call; every page opened is closed after the test.

    A script error on any page fails the test.
    """
    contexts = []
    script_errors: list[str] = []

    def open_page(width: int = DESKTOP["width"], height: int = DESKTOP["height"], lang: str = "en", url: str = "http://127.0.0.1"):
        """`lang`: the pages' language switch as a user left it (en, zh; "": never touched, so Chinese)."""
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB", timezone_id="Asia/Shanghai")
        if lang:
            context.add_cookies([{"name": "lang", "value": lang, "url": url}])
        context.set_default_timeout(20_000)
        context.on("weberror", lambda error: script_errors.append(f"{error.page.url if error.page else '?'}: {error.error}"))
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert not script_errors, f"script errors on the pages: {script_errors}"


def visible_text(page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.inner_text(selector)).strip()
