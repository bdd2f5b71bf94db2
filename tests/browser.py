"""Headless Chromium for the console's browser tests: Playwright driving Debian's /usr/bin/chromium
(no `playwright install`). Under CI=true a missing browser fails instead of skipping."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[1] / "tmp" / "artefacts" / "console"  # every page's screenshot
PASSWORD = "correct horse 1"  # the console users the tests add


@contextmanager
def chromium():
    """A launched headless browser, closed afterwards."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
        if not os.path.exists(CHROMIUM):
            reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    except ImportError as e:
        reason = f"playwright is not installed: {e}"
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def logged_in(browser, base: str, login: str, password: str = PASSWORD, width: int = 1280, **context):
    """A new page of a new context (`context`: Playwright's options), logged in to the console at `base`."""
    page = browser.new_context(viewport={"width": width, "height": 900}, **context).new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirmations ("are you sure?")
    page.goto(f"{base}/console/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")
    return page


def screenshot(page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
