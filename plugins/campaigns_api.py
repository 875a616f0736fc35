"""Airflow plugin: serves the campaign admin API inside the Airflow API server, at /api/v1.

``/api/v1`` is not one of Airflow's reserved plugin prefixes (/api/v2, /ui, /execution, /auth,
/pluginsv2) and plugin apps are mounted before Airflow's own catch-all routes (including the
"/api/v1 has been removed" 404), so the endpoints answer at ``/api/v1/campaigns...`` of the API server.

Importing this module builds the FastAPI app only: no database or network work happens before the
first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.campaigns.api import create_app

campaigns_admin_api = {
    "name": "Campaign admin API",
    "app": create_app(prefix=""),
    "url_prefix": "/api/v1",
}


class CampaignsApiPlugin(AirflowPlugin):
    name = "campaigns_api"
    fastapi_apps = [campaigns_admin_api]
