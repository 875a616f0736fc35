"""The rules a lead row must follow to reach a campaign, as data: one entry per Great Expectations
expectation, with the reason a failing row is set aside for.

Values that depend on the run are GX suite parameters (``{"$PARAMETER": name}``), filled per run by
``gx_runner.suite_parameters``: the run time, the brokers' pipelines (``pipeline_stages``), the known time
zones. GX map expectations skip nulls, so "present and valid" needs an explicit not-null rule (score, stage,
broker_id) while "valid when present" (email, phone, activity, time zone) needs none. Each rule must be a
row-level (map) expectation that looks at one row at a time: the gate checks every row in one scan.

Adding a rule = adding an entry. A column it names that the view ``run_leads_to_validate`` (migration 0017)
does not have yet must be added there, in a new migration, and to the snapshot (``engine/sql/insert_snapshots.sql``
and ``update_snapshots.sql``), which is what lets an unchanged row that was set aside cost nothing in later runs.
Duplicate lead ids need no rule: the CRM table and the staged snapshot both have them as primary key.
"""

from __future__ import annotations

from typing import Any

# RFC 5322 is far wider, but this is what a sending provider accepts in practice.
EMAIL_REGEX = r"^[A-Za-z0-9._%+'-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\Z"
# E.164. `\Z`, not `$`: Python's `$` also matches before a trailing newline, and GX's pandas
# regex check is a search (`str.contains`), so both anchors are needed.
PHONE_REGEX = r"^\+[1-9][0-9]{7,14}\Z"

LEAD_EXPECTATIONS: list[dict[str, Any]] = [
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "score"}, "reason": "score_missing"},
    {"expectation": "ExpectColumnValuesToBeBetween", "kwargs": {"column": "score", "min_value": 0, "max_value": 100},
     "reason": "score_out_of_range"},
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "stage"}, "reason": "stage_missing"},
    {"expectation": "ExpectColumnValuesToMatchRegex", "kwargs": {"column": "stage", "regex": r"\S"},
     "reason": "stage_missing"},
    # "<broker_id>:<stage>" for leads of brokers with a pipeline, null (not checked) for the others
    {"expectation": "ExpectColumnValuesToBeInSet",
     "kwargs": {"column": "pipeline_stage", "value_set": {"$PARAMETER": "pipeline_stages"}},
     "reason": "unknown_stage"},
    {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "broker_id"}, "reason": "broker_missing"},
    {"expectation": "ExpectColumnValuesToMatchRegex", "kwargs": {"column": "email", "regex": EMAIL_REGEX},
     "reason": "malformed_email"},
    {"expectation": "ExpectColumnValuesToMatchRegex", "kwargs": {"column": "phone", "regex": PHONE_REGEX},
     "reason": "malformed_phone"},
    {"expectation": "ExpectColumnValuesToBeBetween",
     "kwargs": {"column": "last_activity_at", "max_value": {"$PARAMETER": "run_at"}}, "reason": "activity_in_future"},
    {"expectation": "ExpectColumnValuesToBeInSet",
     "kwargs": {"column": "timezone", "value_set": {"$PARAMETER": "time_zones"}}, "reason": "unknown_timezone"},
]
