"""The admin API as a FastAPI app: ``create_app()``.

Served inside the Airflow API server by ``plugins/campaigns_api.py`` (mounted at ``/api/v1``), or alone
(``campaigns api serve``, tests) with ``prefix="/api/v1"``. Creating the app does no database or network
work: the campaign database engine is resolved on the first request.

Three things are injectable (keyword arguments, also kept on ``app.state``):

- ``engine``: an SQLAlchemy Engine, or a callable returning one (default: the ``campaigns_db`` connection);
- ``token_validator``: ``token -> Principal`` (default: Airflow's auth manager, see ``auth.py``);
- ``dag_trigger``: ``(dag_id, conf, username) -> TriggeredRun`` (default: Airflow's own DAG-run creation,
  see ``dagruns.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import Engine

from include.campaigns.api.analytics_page import install_page
from include.campaigns.api.auth import TokenValidator, airflow_token_validator
from include.campaigns.api.dagruns import DAG_ID, AirflowDagRunTrigger, DagRunTrigger
from include.campaigns.api.deps import EngineHolder
from include.campaigns.api.docs import DESCRIPTION, install_docs
from include.campaigns.api.errors import install_error_handlers
from include.campaigns.api.routers import ROUTERS

API_PREFIX = "/api/v1"


def create_app(*, prefix: str = API_PREFIX, engine: Engine | Callable[[], Engine] | None = None,
               token_validator: TokenValidator | None = None, dag_trigger: DagRunTrigger | None = None,
               dag_id: str = DAG_ID) -> FastAPI:
    """The admin API. ``prefix=""`` when something else mounts it (the Airflow plugin mounts it at /api/v1)."""
    prefix = prefix.rstrip("/")
    app = FastAPI(title="Campaign engine admin API", version="1.0.0", description=DESCRIPTION,
                  openapi_url=f"{prefix}/openapi.json", docs_url=None, redoc_url=None)
    app.state.engine = EngineHolder(engine)
    app.state.token_validator = token_validator or airflow_token_validator
    app.state.dag_trigger = dag_trigger or AirflowDagRunTrigger()
    app.state.dag_id = dag_id
    for router in ROUTERS:
        app.include_router(router, prefix=prefix)
    install_docs(app, prefix)  # Swagger UI with local assets (the default page loads them from a CDN)
    install_page(app, prefix)  # the Campaigns page of the Airflow UI
    install_error_handlers(app)
    return app
