"""Validation reads the staged leads in batches (bounded memory at any size): the verdicts must be exactly
those of one batch, on generated data with every kind of malformed row and several brokers' pipelines."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from include.campaigns.devtools.synthetic import Shape, write_dataset
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.validate import validate_snapshot
from tests.factories import T0

pytestmark = pytest.mark.integration


def verdicts(engine, run_id):
    with engine.connect() as c:
        rejects = {r.lead_id: tuple(r.reasons) for r in c.execute(
            text("SELECT lead_id, reasons FROM lead_rejects WHERE run_id = :r"), {"r": run_id})}
        flagged = {r[0] for r in c.execute(
            text("SELECT lead_id FROM run_leads WHERE run_id = :r AND rejected"), {"r": run_id})}
        pipelines = {tuple(r) for r in c.execute(
            text("SELECT broker_id, pipeline_hash FROM run_pipelines WHERE run_id = :r"), {"r": run_id})}
    return rejects, flagged, pipelines


@pytest.mark.parametrize("batch_rows", [97, 1_499])
def test_batches_give_the_verdicts_of_one_batch(engine, batch_rows):
    with engine.begin() as conn:
        write_dataset(conn, Shape(leads=1_500, brokers=7, seed=batch_rows, invalid_share=0.3))
    whole, batched = RunContext("whole", T0), RunContext("batched", T0)
    for run in (whole, batched):
        start_run(engine, run)
        assert snapshot_leads(engine, run)["leads_staged"] == 1_500  # both stage every lead: nothing consumed yet
    one = validate_snapshot(engine, whole)
    many = validate_snapshot(engine, batched, batch_rows=batch_rows)
    assert one["validated"] == many["validated"] == 1_500
    assert one == many and one["rejected"] > 300
    assert len(one["reasons"]) >= 6                         # many kinds of fault, across batch boundaries
    assert verdicts(engine, "whole") == verdicts(engine, "batched")
    rejects, flagged, pipelines = verdicts(engine, "batched")
    assert set(rejects) == flagged and len(pipelines) == 7
