"""Data-quality gate for a run's staged leads, with Great Expectations 1.x on pandas.

The CRM feeds us whatever it has; a lead with no broker, an impossible score or a malformed
address must not reach a campaign. The rules are data (``LEAD_EXPECTATIONS``) so they read as a
list and can change without touching the code that runs them. Rejected rows are kept in
``lead_rejects`` with every reason, for the CRM team, and flagged ``run_leads.rejected`` so the
rest of the run ignores them.

GX is imported lazily: importing it costs seconds, and DAG parsing must not pay for it.
"""

from __future__ import annotations

import logging
import os

# Before any GX import: no usage statistics, nothing leaves the machine. GX also logs a few
# hundred INFO lines per context (docs registry, type lookups); a task log needs its warnings only.
os.environ["GX_ANALYTICS_ENABLED"] = "false"
logging.getLogger("great_expectations").setLevel(logging.WARNING)

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from include.campaigns.db import copy_rows, statement, temp_table_like
from include.campaigns.domain import STAGES

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite

# RFC 5322 is far wider, but this is what a sending provider accepts in practice.
EMAIL_REGEX = r"^[A-Za-z0-9._%+'-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\Z"
# E.164. `\Z`, not `$`: Python's `$` also matches before a trailing newline, and GX's pandas
# regex check is a search (`str.contains`), so both anchors are needed.
PHONE_REGEX = r"^\+[1-9][0-9]{7,14}\Z"

# A value that depends on the run is a GX suite parameter: the rules stay static data and
# find_rejects() fills it per run through ``expectation_parameters={"run_at": ...}``.
RUN_AT_PARAM = {"$PARAMETER": "run_at"}

# GX map expectations skip nulls, so "present and valid" needs an explicit not-null rule
# (score, stage, broker_id) while "valid when present" (email, phone, activity) needs none.
LEAD_EXPECTATIONS: list[dict[str, Any]] = [
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "score"}, "reason": "score_missing"},
    {
        "expectation": "ExpectColumnValuesToBeBetween",
        "kwargs": {"column": "score", "min_value": 0, "max_value": 100},
        "reason": "score_out_of_range",
    },
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "stage"}, "reason": "unknown_stage"},
    {
        "expectation": "ExpectColumnValuesToBeInSet",
        "kwargs": {"column": "stage", "value_set": list(STAGES)},
        "reason": "unknown_stage",
    },
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "broker_id"}, "reason": "broker_missing"},
    {
        "expectation": "ExpectColumnValuesToMatchRegex",
        "kwargs": {"column": "email", "regex": EMAIL_REGEX},
        "reason": "malformed_email",
    },
    {
        "expectation": "ExpectColumnValuesToMatchRegex",
        "kwargs": {"column": "phone", "regex": PHONE_REGEX},
        "reason": "malformed_phone",
    },
    {
        "expectation": "ExpectColumnValuesToBeBetween",
        "kwargs": {"column": "last_activity_at", "max_value": RUN_AT_PARAM},
        "reason": "activity_in_future",
    },
    {"expectation": "ExpectColumnValuesToBeUnique", "kwargs": {"column": "lead_id"}, "reason": "duplicate_lead_id"},
]

# COMPLETE gives every failing row index. No index query, no rows: they copy the frame again.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
    "include_unexpected_rows": False,
}

_TIMESTAMP_COLUMNS = ("last_activity_at",)
_NUMERIC_COLUMNS = ("score",)
_TEMP_TABLE = "tmp_quality_rejects"


def _rule_columns() -> list[str]:
    cols = ["lead_id"]
    for rule in LEAD_EXPECTATIONS:
        col = rule["kwargs"].get("column")
        if col and col not in cols:
            cols.append(col)
    return cols


def build_suite() -> ExpectationSuite:
    """The GX suite of ``LEAD_EXPECTATIONS``; each expectation carries its reason in ``meta``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = []
    for rule in LEAD_EXPECTATIONS:
        cls = getattr(gxe, rule["expectation"], None)
        if cls is None:
            raise ValueError(f"unknown GX expectation {rule['expectation']!r} in LEAD_EXPECTATIONS")
        expectations.append(cls(**rule["kwargs"], meta={"reason": rule["reason"]}))
    # Given to the constructor, not add_expectation(): that one needs a current data context.
    # The constructor logs and drops an expectation it cannot take, so count them.
    suite = gx.ExpectationSuite(name="run_leads_quality", expectations=expectations)
    if len(suite.expectations) != len(expectations):
        raise ValueError("GX dropped an expectation of LEAD_EXPECTATIONS; see its log")
    return suite


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Only the columns the rules read, a positional index, dtypes GX handles vectorised.

    GX hashes the whole frame each time it loads the batch and copies it per null-skipping
    expectation, so extra columns cost time. Its between-check is vectorised only for numpy
    int/float and tz-aware datetimes: nullable Int64, object or naive datetime64[us] columns
    fall back to one Python call per row. Unexpected indexes are positions only with an
    unnamed RangeIndex (a named index makes GX return dicts built row by row).
    """
    cols = _rule_columns()
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"lead frame lacks columns {missing}")
    frame = df[cols].reset_index(drop=True)
    if frame["lead_id"].isna().any():
        raise ValueError("lead frame has rows without lead_id")
    frame["lead_id"] = frame["lead_id"].astype("int64")
    for col in _NUMERIC_COLUMNS:
        # NaN for null; a non-numeric value is a caller bug and raises here, not in GX.
        frame[col] = pd.to_numeric(frame[col]).astype("float64")
    for col in _TIMESTAMP_COLUMNS:
        # Naive values are taken as UTC, like the database's timestamptz; mixed offsets unify.
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


def find_rejects(df: pd.DataFrame, run_at: datetime) -> dict[int, list[str]]:
    """lead_id -> sorted reasons, for every row of ``df`` that breaks a rule.

    Pure (no database), so every rule can be tested on a few rows. Empty result = all clean.
    """
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    if df.empty:
        return {}
    frame = _prepare(df)

    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory only: no docs site (its temp dir), no progress bars, no analytics.
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            analytics_enabled=False,
        ),
    )
    batch = (
        context.data_sources.add_pandas("campaigns")
        .add_dataframe_asset("run_leads")
        .add_batch_definition_whole_dataframe("whole_frame")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    results = batch.validate(
        build_suite(), result_format=RESULT_FORMAT, expectation_parameters={"run_at": run_at}
    )

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
        reason = config.meta["reason"]
        for lead_id in lead_ids[np.asarray(index, dtype=np.int64)].tolist():
            reasons.setdefault(lead_id, set()).add(reason)
    return {lead_id: sorted(r) for lead_id, r in reasons.items()}


def validate_snapshot(engine: Engine, run_id: str, run_at: datetime) -> dict[str, Any]:
    """Validate the staged, not yet rejected leads of ``run_id``; record and flag the rejects.

    One transaction, set-based, idempotent: a retried task finds the rejects already flagged,
    and ``ON CONFLICT DO NOTHING`` covers a concurrent duplicate.
    """
    params = {"run_id": run_id, "run_at": run_at}
    with engine.begin() as conn:
        df = pd.read_sql(statement("quality_staged_leads"), conn, params={"run_id": run_id})
        rejects = find_rejects(df, run_at)
        if rejects:
            temp_table_like(conn, _TEMP_TABLE, "lead_id bigint PRIMARY KEY, reasons text[] NOT NULL")
            copy_rows(conn, _TEMP_TABLE, ("lead_id", "reasons"), rejects.items())
            conn.exec_driver_sql(f"ANALYZE {_TEMP_TABLE}")
            conn.execute(statement("quality_insert_rejects"), params)
            conn.execute(statement("quality_flag_rejected"), params)
    counts = Counter(reason for found in rejects.values() for reason in found)
    return {"validated": len(df), "rejected": len(rejects), "reasons": dict(sorted(counts.items()))}
