"""Airflow plugin: serves the campaign admin API inside the Airflow API server, at /api/v1, and puts the
Campaigns page (served by the same app at /api/v1/analytics/ui/) in the Airflow UI's navigation.

``/api/v1`` is not one of Airflow's reserved plugin prefixes (/api/v2, /ui, /execution, /auth,
/pluginsv2) and plugin apps are mounted before Airflow's own catch-all routes (including the
"/api/v1 has been removed" 404), so the endpoints answer at ``/api/v1/campaigns...`` of the API server.

Importing this module builds the FastAPI app only: no database or network work happens before the
first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.campaigns.api import create_app
from include.campaigns.api.analytics_page import PAGE_PATH

campaigns_admin_api = {
    "name": "Campaign admin API",
    "app": create_app(prefix=""),
    "url_prefix": "/api/v1",
}


# Airflow 3's UI shows an external view with a url_route at /plugin/<url_route>, the href in an iframe of the
# same origin: the page's requests carry the UI's login cookie, which the analytics endpoints check.
campaigns_page = {
    "name": "Campaigns",
    "href": f"/api/v1{PAGE_PATH}/",
    "url_route": "campaigns",
    "destination": "nav",
    "nav_top_level": True,
    "icon": f"/api/v1{PAGE_PATH}/icon.svg",
}


class CampaignsApiPlugin(AirflowPlugin):
    name = "campaigns_api"
    fastapi_apps = [campaigns_admin_api]
    external_views = [campaigns_page]
