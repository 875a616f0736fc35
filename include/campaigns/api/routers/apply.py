"""``/campaigns/{id}/apply-to-lead/{lead_id}``: start a ``campaign_executor`` run for one lead."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, status
from sqlalchemy.exc import SQLAlchemyError

from include.campaigns.api.dagruns import DagRunTrigger, TriggeredRun
from include.campaigns.api.deps import AdminDep, EngineDep, HttpError
from include.campaigns.api.routers.params import CampaignId, LeadId
from include.campaigns.api.routers.responses import AUTH, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE
from include.campaigns.api.schemas.campaigns import ApplyOut
from include.campaigns.api.services.apply import check_apply

log = logging.getLogger(__name__)
router = APIRouter(tags=["campaigns"], responses={**AUTH, **UNAVAILABLE})


@router.post("/campaigns/{campaign_id}/apply-to-lead/{lead_id}", status_code=status.HTTP_202_ACCEPTED,
             response_model=ApplyOut, responses={**NOT_FOUND, **CONFLICT, **INVALID},
             summary="Apply an ACTIVE campaign to one lead: starts a campaign_executor DAG run")
def apply_to_lead(campaign_id: CampaignId, lead_id: LeadId, admin: AdminDep, engine: EngineDep,
                  request: Request) -> dict[str, Any]:
    with engine.begin() as conn:
        check_apply(conn, admin.brokers, campaign_id, lead_id)
    conf = {"campaign_id": campaign_id, "lead_id": lead_id}
    trigger: DagRunTrigger = request.app.state.dag_trigger
    dag_id: str = request.app.state.dag_id
    try:
        run = trigger(dag_id, conf, admin.username)
    except SQLAlchemyError as exc:  # Airflow's metadata database, not the campaign database
        log.exception("could not create the DAG run")
        raise HttpError(503, f"could not create the {dag_id} run in Airflow ({type(exc).__name__}), "
                             "retry later") from exc
    if isinstance(run, str):
        run = TriggeredRun(dag_run_id=run)
    return {"dag_id": dag_id, "dag_run_id": run.dag_run_id, "dag_is_paused": run.dag_is_paused,
            "campaign_id": campaign_id, "lead_id": lead_id, "conf": conf}
