"""Run the lead expectations with Great Expectations 1.x on a pandas frame (an ephemeral, in-memory context).

Pure (no database): ``find_rejects(frame, run_at, pipelines)`` says which rows break which rules, so every
rule can be tested on a few rows. GX is imported lazily: importing it costs seconds, and DAG parsing must
not pay for it.
"""

from __future__ import annotations

import logging
import os
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from include.campaigns.domain.pipelines import Pipelines
from include.campaigns.quality.expectations import LEAD_EXPECTATIONS

# Before any GX import: no usage statistics, nothing leaves the machine. GX also logs a few hundred INFO
# lines per context (docs registry, type lookups); a task log needs its warnings only.
os.environ["GX_ANALYTICS_ENABLED"] = "false"
logging.getLogger("great_expectations").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite

Rules = Sequence[Mapping[str, Any]]
# COMPLETE gives every failing row index. No index query, no rows: they copy the frame again.
RESULT_FORMAT: dict[str, Any] = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                                 "include_unexpected_rows": False}
DERIVED = {"pipeline_stage": ("broker_id", "stage")}  # column the frame gets here -> what it is made of
TIMESTAMP_COLUMNS = ("last_activity_at",)
NUMERIC_COLUMNS = ("score",)
TIME_ZONES = sorted(zoneinfo.available_timezones())


def rule_columns(rules: Rules = LEAD_EXPECTATIONS) -> list[str]:
    cols = ["lead_id"]
    for rule in rules:
        col = rule["kwargs"].get("column")
        if col and col not in cols:
            cols.append(col)
    return cols


def input_columns(rules: Rules = LEAD_EXPECTATIONS) -> list[str]:
    """The columns a frame must have for ``rules``: what they read, derived columns by their sources."""
    cols: list[str] = []
    for col in rule_columns(rules):
        for c in DERIVED.get(col, (col,)):
            if c not in cols:
                cols.append(c)
    return cols


def build_suite(rules: Rules = LEAD_EXPECTATIONS) -> ExpectationSuite:
    """The GX suite of ``rules``; each expectation carries its reason in ``meta``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = []
    for rule in rules:
        cls = getattr(gxe, rule["expectation"], None)
        if cls is None:
            raise ValueError(f"unknown GX expectation {rule['expectation']!r} in the lead expectations")
        expectations.append(cls(**rule["kwargs"], meta={"reason": rule["reason"]}))
    # Given to the constructor, not add_expectation(): that one needs a current data context.
    # The constructor logs and drops an expectation it cannot take, so count them.
    suite = gx.ExpectationSuite(name="run_leads_quality", expectations=expectations)
    if len(suite.expectations) != len(expectations):
        raise ValueError("GX dropped one of the lead expectations; see its log")
    return suite


def suite_parameters(run_at: datetime, pipelines: Pipelines) -> dict[str, Any]:
    return {"run_at": run_at, "time_zones": TIME_ZONES,
            "pipeline_stages": sorted(f"{b}:{s}" for b, stages in pipelines.items() for s in stages)}


def prepare(df: pd.DataFrame, pipelines: Pipelines, rules: Rules = LEAD_EXPECTATIONS) -> pd.DataFrame:
    """Only the columns the rules read, a positional index, dtypes GX handles vectorised.

    GX hashes the whole frame each time it loads the batch and copies it per null-skipping expectation, so
    extra columns cost time. Its between-check is vectorised only for numpy int/float and tz-aware
    datetimes: nullable Int64, object or naive datetime64[us] columns fall back to one Python call per row.
    Unexpected indexes are positions only with an unnamed RangeIndex.
    """
    missing = [c for c in input_columns(rules) if c not in df.columns]
    if missing:
        raise ValueError(f"lead frame lacks columns {missing}")
    frame = df[input_columns(rules)].reset_index(drop=True)
    if frame["lead_id"].isna().any():
        raise ValueError("lead frame has rows without lead_id")
    frame["lead_id"] = frame["lead_id"].astype("int64")
    if "pipeline_stage" in rule_columns(rules):
        broker = frame["broker_id"].astype("Int64")  # a null broker makes the column float: 7.0 is broker 7
        has_pipeline = broker.isin(list(pipelines)).fillna(False).to_numpy(dtype=bool)
        key = broker.astype("string") + ":" + frame["stage"].astype("string")
        frame["pipeline_stage"] = np.where(has_pipeline, key.astype(object), None)
    for col in NUMERIC_COLUMNS:
        if col in frame:  # NaN for null; a non-numeric value is a caller bug and raises here, not in GX
            frame[col] = pd.to_numeric(frame[col]).astype("float64")
    for col in TIMESTAMP_COLUMNS:
        if col in frame:  # naive values are taken as UTC, like timestamptz; mixed offsets unify
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _raised(exception_info: Mapping[str, Any] | None) -> str | None:
    """The message of an expectation that could not run (GX reports it instead of raising)."""
    if not exception_info:
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message"))
    for value in exception_info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig,
    )

    # In memory only: no docs site (its temp dir), no progress bars, no analytics.
    return gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False))


def find_rejects(df: pd.DataFrame, run_at: datetime, pipelines: Pipelines | None = None,
                 rules: Rules = LEAD_EXPECTATIONS) -> dict[int, list[str]]:
    """lead_id -> sorted reasons, for every row of ``df`` that breaks a rule. Empty result = all clean."""
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    if df.empty:
        return {}
    pipelines = pipelines or {}
    frame = prepare(df, pipelines, rules)
    batch = (_context().data_sources.add_pandas("campaigns").add_dataframe_asset("run_leads")
             .add_batch_definition_whole_dataframe("whole_frame").get_batch(batch_parameters={"dataframe": frame}))
    results = batch.validate(build_suite(rules), result_format=RESULT_FORMAT,
                             expectation_parameters=suite_parameters(run_at, pipelines))
    lead_ids = frame["lead_id"].to_numpy()
    reasons: dict[int, set[str]] = {}
    for res in results.results:
        config = res.expectation_config
        error = _raised(res.exception_info)
        if error is not None:
            raise RuntimeError(f"{config.type} on {config.kwargs.get('column')} could not run: {error}")
        if res.success:
            continue
        index = res.result.get("unexpected_index_list")
        if index is None:
            raise RuntimeError(f"{config.type} failed without an unexpected_index_list")
        for lead_id in lead_ids[np.asarray(index, dtype=np.int64)].tolist():
            reasons.setdefault(lead_id, set()).add(config.meta["reason"])
    return {lead_id: sorted(r) for lead_id, r in reasons.items()}
