"""The Campaigns page of the Airflow UI: static files served by the admin API app at ``<prefix>/analytics/ui/``.

The plugin lists it in Airflow's navigation (``external_views``); Airflow shows it in an iframe of its own
origin, so the page's requests carry the UI's ``_token`` cookie and the analytics endpoints authenticate them.
Every asset is in ``static/`` (Chart.js vendored under ``static/vendor/``): the page loads nothing from the
internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PAGE_PATH = "/analytics/ui"


def install_page(app: FastAPI, prefix: str) -> None:
    """``<prefix>/analytics/ui/`` (index.html) and its assets; no authentication: the data endpoints have it."""
    app.mount(f"{prefix}{PAGE_PATH}", StaticFiles(directory=STATIC, html=True), name="analytics-page")
