"""The one-scan gate gives exactly Great Expectations' own verdicts: on generated leads of several brokers'
pipelines, with values no rule was written for (unicode, quotes, backslashes, stray whitespace, far dates),
the rejects of ``validate_snapshot`` are, rule by rule, the unexpected rows of GX's standard validation of
the same rows through its SQL execution engine."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from include.campaigns.devtools.synthetic import Shape, write_dataset
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.expectations import LEAD_EXPECTATIONS
from include.campaigns.quality.gx_runner import VALIDATED_RELATION, build_suite, ephemeral_context, suite_parameters
from include.campaigns.quality.validate import validate_snapshot
from tests.factories import T0

pytestmark = pytest.mark.integration

ODD_TEXTS = ["", " ", "\t", "ñandú@correo.es", "josé@example.com", "a@b.c", "a@b.co\n", "o'hara@example.ie",
             "100%@example.com", "back\\slash@example.com", "🏠@example.com", "+34 600 000 000", "+346000000001",
             "+0034600000000", "Europe/Madrid ", "europe/madrid", "Etc/GMT+3", "America/Argentina/Buenos_Aires",
             "nuevo", "Nuevo", "NUEVO ", "visita", "ganado", "lost", "\\S", "%", "'; DROP TABLE leads; --"]


def scramble(engine, seed: int) -> None:
    """Overwrite a third of the leads' rule columns with values drawn from ODD_TEXTS (and odd numbers, dates)."""
    rng = random.Random(seed)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM leads ORDER BY id"))]
        rows = [{"id": i, "email": rng.choice(ODD_TEXTS + [None]), "phone": rng.choice(ODD_TEXTS + [None]),
                 "stage": rng.choice(ODD_TEXTS), "timezone": rng.choice(ODD_TEXTS + [None]),
                 "score": rng.choice([None, -1, 0, 55, 100, 101, 2**31 - 1]),
                 "activity": rng.choice([None, T0 - timedelta(days=400), T0, T0 + timedelta(microseconds=1),
                                         T0 + timedelta(days=3650)])}
                for i in rng.sample(ids, len(ids) // 3)]
        conn.execute(text("UPDATE leads SET email = :email, phone = :phone, stage = :stage, timezone = :timezone, "
                          "score = :score, last_activity_at = :activity WHERE id = :id"), rows)


def gx_unexpected(engine, run: RunContext, pipeline_stages: list[str]) -> dict[str, set[int]]:
    """reason -> lead ids GX's standard validation (SQL engine, SUMMARY with every unexpected index) flags."""
    source = (ephemeral_context().data_sources.add_sql("campaigns", connection_string=engine.url.render_as_string(False))
              .add_table_asset("staged", table_name=VALIDATED_RELATION))
    batch = source.add_batch_definition_whole_table("all").get_batch()
    results = batch.validate(build_suite(), expectation_parameters=suite_parameters(run.run_at, pipeline_stages),
                             result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10**9,
                                            "unexpected_index_column_names": ["lead_id"],
                                            "return_unexpected_index_query": False})
    found: dict[str, set[int]] = {}
    for res in results.results:
        assert not res.exception_info.get("raised_exception"), res.exception_info
        found.setdefault(res.expectation_config.meta["reason"], set()).update(
            row["lead_id"] for row in res.result["partial_unexpected_index_list"])
    return found


@pytest.mark.parametrize("seed", [3, 11])
def test_the_gate_rejects_exactly_what_gx_finds_unexpected(engine, seed):
    with engine.begin() as conn:
        write_dataset(conn, Shape(leads=1_500, brokers=7, seed=seed, invalid_share=0.3))
    scramble(engine, seed)
    run = RunContext(f"gate-{seed}", T0)
    start_run(engine, run)
    assert snapshot_leads(engine, run)["leads_staged"] == 1_500
    with engine.connect() as conn:
        stages = [r[0] for r in conn.execute(text("SELECT broker_id || ':' || stage FROM pipeline_stages"))]
    expected = gx_unexpected(engine, run, stages)  # before the gate flags anything: the same rows

    summary = validate_snapshot(engine, run)

    with engine.connect() as conn:
        kept = {r.lead_id: set(r.reasons) for r in conn.execute(
            text("SELECT lead_id, reasons FROM lead_rejects WHERE run_id = :r"), {"r": run.run_id})}
        flagged = {r[0] for r in conn.execute(
            text("SELECT lead_id FROM run_leads WHERE run_id = :r AND rejected"), {"r": run.run_id})}
        pipelines = conn.execute(text("SELECT count(*) FROM run_pipelines WHERE run_id = :r"),
                                 {"r": run.run_id}).scalar()
    by_reason = {rule["reason"]: {lead for lead, reasons in kept.items() if rule["reason"] in reasons}
                 for rule in LEAD_EXPECTATIONS}
    assert by_reason == {reason: expected.get(reason, set()) for reason in by_reason}
    assert set(kept) == flagged and summary["rejected"] == len(kept) > 300
    assert summary["validated"] == 1_500 and pipelines == 7
    assert sum(1 for leads in by_reason.values() if leads) >= 7  # many kinds of fault in one scan
    assert summary["reasons"] == {reason: len(leads) for reason, leads in by_reason.items() if leads}
