"""The admin API's documentation: its OpenAPI description (what a caller needs to know before the first
request) and the Swagger UI page at ``<prefix>/docs``, served with its own assets.

FastAPI's default page loads Swagger UI from a CDN, so it is blank offline or behind a firewall. The assets
here come from the pinned ``fastapi-offline`` wheel and are served by the app itself under
``<prefix>/docs/assets/``; every URL in the page is relative to where the app is mounted (``root_path``: the
Airflow plugin mounts it at /api/v1).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = files("fastapi_offline") / "static"  # swagger-ui-bundle.js, swagger-ui.css, favicon.png

GRANT_HINT = "campaigns admins grant <username> <broker_id>"

DESCRIPTION = f"""
Create campaigns, add their steps, activate/pause/archive them and apply them to leads
(use case UC-06). Served by an Airflow plugin inside the Airflow API server.

**Auth**: send an Airflow JWT as `Authorization: Bearer <token>`; get one from the API server with
`POST /auth/token` (`{{"username": ..., "password": ...}}`). Only Airflow admins may call this API:
no/invalid/expired token = 401, a user without the admin role = 403.

**Broker scoping**: the table `broker_admins(username, broker_id)` says which brokers each Airflow user
administers (grant with `{GRANT_HINT}`). A campaign or lead of any other broker is a 404.

**Analytics** (`/analytics/...`): the read-only figures of the Campaigns page of the Airflow UI, as JSON and
CSV. Any logged-in Airflow user (not only admins) may read them, for the brokers granted to them in
`broker_admins`.

**Stages** are the broker's own (`pipeline_stages`): a `STAGE_CHANGE` trigger, an `update_stage` step and a
stage condition must name one of them (422 otherwise, listing the broker's stages). A broker without
pipeline rows accepts any non-empty stage.

**Steps of a live campaign**: while a campaign is ACTIVE or PAUSED, steps can only be appended after
the last one; changing or deleting an existing step is a 409 (DRAFT campaigns can change freely,
ARCHIVED ones not at all).

**Engine errors**: an unexpected error of the engine itself never becomes a campaign log: the enrolment is
set aside (status ERROR, listed by `GET /api/v1/enrolments?status=ERROR`) and its Airflow task fails; after
the fix, `POST /api/v1/campaigns/{{id}}/enrolments/{{lead_id}}/retry` lets it run again.

Errors: `{{"detail": "..."}}`; a 422 also lists each invalid field in `errors`. A request that fails
writes nothing.
"""


def install_docs(app: FastAPI, prefix: str) -> None:
    """``<prefix>/docs`` (Swagger UI) with its assets at ``<prefix>/docs/assets/``; nothing from the internet."""
    assets = f"{prefix}/docs/assets"
    app.mount(assets, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
                                   swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{assets}/favicon.png")
