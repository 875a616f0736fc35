"""The campaign admin API (issue 3): a FastAPI app served by an Airflow plugin under ``/api/v1``."""

from __future__ import annotations

from include.campaigns.api.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
