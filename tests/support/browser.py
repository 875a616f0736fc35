"""Headless Chromium for the page tests: Debian's ``chromium`` driven by Playwright (its own browser download
needs the internet). Where the binary is missing the tests skip, saying how to install it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CAMPAIGNS_CHROMIUM", "/usr/bin/chromium"))


def chromium() -> Iterator[object]:
    """A launched headless browser (Playwright ``Browser``), closed afterwards."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make browser` (apt-get install chromium) or set CAMPAIGNS_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def airflow_login(page, base: str, username: str, password: str) -> None:
    """Log in through Airflow's own login page, as a person would."""
    page.goto(f"{base}/")
    page.wait_for_url("**/login**", timeout=30_000)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "login" not in url, timeout=30_000)
