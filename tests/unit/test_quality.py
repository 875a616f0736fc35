"""The lead quality gate: each rule at its boundaries, checked by PostgreSQL with the conditions Great
Expectations builds, and the rejects written there."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from include.campaigns.quality.expectations import LEAD_EXPECTATIONS
from include.campaigns.quality.gx_runner import ExpectationError, build_suite, reject_conditions
from include.campaigns.engine.run import RunContext
from include.campaigns.quality.validate import validate_snapshot

RUN_AT = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
CLEAN: dict[str, Any] = {
    "broker_id": 1,
    "stage": "new",
    "score": 50,
    "email": "ana.perez@example.com",
    "phone": "+56912345678",
    "last_activity_at": RUN_AT - timedelta(days=3),
    "timezone": "America/Santiago",
}
# Broker 1 has its own pipeline in Spanish; broker 2 has none (any non-empty stage is valid there).
PIPELINES = {1: ("nuevo", "contactado", "visita", "ganado"), 7: ("lead", "nurture", "offer")}


STAGED_COLUMNS = ("lead_id", *CLEAN)


def find_rejects(engine, *rows: dict[str, Any], pipelines=None, run_at: datetime = RUN_AT,
                 rules=LEAD_EXPECTATIONS) -> dict[int, list[str]]:
    """Stage one lead per row (clean unless overridden; ids 1..n unless given) in a run of its own, validate it,
    and return lead_id -> reasons as kept in lead_rejects."""
    run_id = f"rules-{uuid.uuid4().hex}"
    with engine.begin() as conn:
        for broker_id, stages in (pipelines or {}).items():
            conn.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) VALUES (:b, :s, :p) "
                              "ON CONFLICT DO NOTHING"),
                         [{"b": broker_id, "s": stage, "p": i} for i, stage in enumerate(stages, start=1)])
        if rows:
            conn.execute(text(f"INSERT INTO run_leads (run_id, {', '.join(STAGED_COLUMNS)}, is_new) VALUES "
                              f"(:run_id, {', '.join(':' + c for c in STAGED_COLUMNS)}, true)"),
                         [{"run_id": run_id, "lead_id": i, **CLEAN, **row} for i, row in enumerate(rows, start=1)])
    validate_snapshot(engine, RunContext(run_id, run_at), rules)
    with engine.connect() as conn:
        return {r.lead_id: list(r.reasons) for r in conn.execute(
            text("SELECT lead_id, reasons FROM lead_rejects WHERE run_id = :r ORDER BY lead_id"), {"r": run_id})}


def test_rules_are_data_and_build_a_suite():
    reasons = {rule["reason"] for rule in LEAD_EXPECTATIONS}
    assert reasons == {
        "score_missing", "score_out_of_range", "stage_missing", "unknown_stage", "broker_missing", "malformed_email",
        "malformed_phone", "activity_in_future", "unknown_timezone",
    }
    assert all(set(rule) == {"expectation", "kwargs", "reason"} for rule in LEAD_EXPECTATIONS)
    assert json.loads(json.dumps(LEAD_EXPECTATIONS)) == LEAD_EXPECTATIONS  # plain data
    suite = build_suite()
    assert [e.meta["reason"] for e in suite.expectations] == [rule["reason"] for rule in LEAD_EXPECTATIONS]


def test_gx_builds_one_condition_per_rule_on_the_validated_columns(engine):
    conditions = reject_conditions(engine, RUN_AT, ["1:nuevo"])
    assert [reason for reason, _ in conditions] == [rule["reason"] for rule in LEAD_EXPECTATIONS]
    sql = {reason: str(c.compile(engine)) for reason, c in conditions}
    assert "~" in sql["malformed_email"] and "email IS NOT NULL" in sql["malformed_email"]  # GX's regex, nulls skipped
    assert "pipeline_stage" in sql["unknown_stage"]


def test_unknown_expectation_name_is_an_error():
    with pytest.raises(ValueError, match="ExpectMagic"):
        build_suite([{"expectation": "ExpectMagic", "kwargs": {}, "reason": "x"}])


def test_an_expectation_that_cannot_run_is_an_error_not_a_pass(engine):
    broken = {"expectation": "ExpectColumnValuesToBeBetween", "kwargs": {"column": "stage", "min_value": 0},
              "reason": "nonsense"}
    with pytest.raises(ExpectationError, match="nonsense: GX could not build its condition: .*type TEXT"):
        find_rejects(engine, {}, rules=[*LEAD_EXPECTATIONS, broken])
    unbalanced = {"expectation": "ExpectColumnValuesToMatchRegex", "kwargs": {"column": "email", "regex": "(a"},
                  "reason": "bad_regex"}  # GX passes it on; PostgreSQL refuses it when it reads a row
    with pytest.raises(ExpectationError, match="bad_regex: PostgreSQL cannot evaluate its condition: .*regular"):
        find_rejects(engine, {}, rules=[*LEAD_EXPECTATIONS, unbalanced])
    missing = {"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "shoe_size"}, "reason": "feet"}
    with pytest.raises(ExpectationError, match="feet: GX could not build its condition"):
        find_rejects(engine, {}, rules=[missing])


@pytest.mark.parametrize(("rule", "message"), [
    ({"expectation": "ExpectColumnValuesToBeUnique", "kwargs": {"column": "lead_id"}, "reason": "twice"},
     "twice: ExpectColumnValuesToBeUnique compares rows with each other"),
    ({"expectation": "ExpectTableRowCountToBeBetween", "kwargs": {"min_value": 1}, "reason": "few"},
     "few: ExpectTableRowCountToBeBetween is not a row-level"),
    ({"expectation": "ExpectColumnValuesToNotBeNull", "kwargs": {"column": "email", "mostly": 0.9}, "reason": "most"},
     "most: 'mostly' has no meaning"),
])
def test_a_rule_that_cannot_set_a_row_aside_is_refused(engine, rule, message):
    with pytest.raises(ExpectationError, match=message):
        find_rejects(engine, {}, rules=[*LEAD_EXPECTATIONS, rule])


def test_clean_rows_have_no_rejects(engine):
    assert find_rejects(engine, {}, {"email": None, "phone": None, "last_activity_at": None, "timezone": None}) == {}


def test_an_empty_run_has_no_rejects(engine):
    assert find_rejects(engine) == {}


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, []), (100, []), (-1, ["score_out_of_range"]), (101, ["score_out_of_range"]), (None, ["score_missing"])],
)
def test_score(engine, score, expected):
    rejects = find_rejects(engine, {}, {"score": score})
    assert rejects == ({2: expected} if expected else {})


@pytest.mark.parametrize(
    ("broker_id", "stage", "expected"),
    [
        (1, "visita", []), (1, "nuevo", []),                  # the broker's own words
        (1, "Visita", ["unknown_stage"]), (1, "visit", ["unknown_stage"]), (1, "won", ["unknown_stage"]),
        (7, "nurture", []), (7, "nuevo", ["unknown_stage"]),   # another broker's pipeline does not count
        (2, "won", []), (2, "whatever the CRM says", []),      # no pipeline: every non-empty stage
        (2, "", ["stage_missing"]), (2, "  ", ["stage_missing"]), (1, "", ["stage_missing", "unknown_stage"]),
        (2, None, ["stage_missing"]),
    ],
)
def test_stage_against_the_brokers_own_pipeline(engine, broker_id, stage, expected):
    rejects = find_rejects(engine, {"broker_id": broker_id, "stage": stage}, pipelines=PIPELINES)
    assert rejects == ({1: expected} if expected else {})


def test_without_pipelines_every_stage_is_accepted(engine):
    assert find_rejects(engine, {"stage": "zombie"}, {"stage": "qualified"}) == {}


@pytest.mark.parametrize(("tz", "ok"), [(None, True), ("Europe/Madrid", True), ("America/Argentina/Buenos_Aires", True),
                                         ("UTC", True), ("Mars/Olympus", False), ("GMT+3", False), ("", False)])
def test_timezone(engine, tz, ok):
    assert find_rejects(engine, {"timezone": tz}) == ({} if ok else {1: ["unknown_timezone"]})


def test_broker_missing(engine):
    assert find_rejects(engine, {"broker_id": None}, {}) == {1: ["broker_missing"]}


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        (None, True),
        ("ana@example.com", True),
        ("ana.perez+crm@mail.example.co", True),
        ("o'brien%crm@example.ie", True),  # a quote and a percent sign reach PostgreSQL as data, not SQL
        ("ana", False),
        ("ana@", False),
        ("@example.com", False),
        ("ana@example", False),
        ("ana @example.com", False),
        ("ana@example.com extra", False),
        ("ana@example.com\n", False),
        ("", False),
    ],
)
def test_email(engine, email, ok):
    assert find_rejects(engine, {"email": email}) == ({} if ok else {1: ["malformed_email"]})


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        (None, True),
        ("+12345678", True),  # 8 digits, the shortest
        ("+123456789012345", True),  # 15 digits, the longest
        ("+1234567", False),
        ("+1234567890123456", False),
        ("+02345678901", False),
        ("56912345678", False),
        ("+56 9 1234 5678", False),
        ("+56912345678\n", False),
        ("", False),
    ],
)
def test_phone(engine, phone, ok):
    assert find_rejects(engine, {"phone": phone}) == ({} if ok else {1: ["malformed_phone"]})


def test_activity_at_run_time_passes_one_second_later_fails(engine):
    rejects = find_rejects(engine, {"last_activity_at": RUN_AT}, {"last_activity_at": RUN_AT + timedelta(seconds=1)},
                           {"last_activity_at": None})
    assert rejects == {2: ["activity_in_future"]}


def test_activity_compares_instants_across_time_zones(engine):
    santiago = timezone(timedelta(hours=-3))
    rejects = find_rejects(
        engine,
        {"last_activity_at": RUN_AT},
        {"last_activity_at": (RUN_AT + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5)))},
        {"last_activity_at": RUN_AT.astimezone(santiago) - timedelta(seconds=1)},
        run_at=RUN_AT.astimezone(santiago),  # same instant, other offset
    )
    assert rejects == {2: ["activity_in_future"]}


def test_naive_run_at_is_refused(engine):
    with pytest.raises(ValueError, match="timezone-aware"):
        find_rejects(engine, {}, run_at=RUN_AT.replace(tzinfo=None))


def test_several_problems_give_every_reason_sorted(engine):
    bad = {
        "broker_id": 1, "stage": "lost-ish", "score": 250, "email": "nope", "phone": "123",
        "last_activity_at": RUN_AT + timedelta(days=1), "timezone": "Nowhere/Land",
    }
    rejects = find_rejects(engine, bad, {"broker_id": None}, {"score": None, "broker_id": 7, "stage": "offer"},
                           pipelines=PIPELINES)
    assert rejects == {
        1: sorted([
            "activity_in_future", "malformed_email", "malformed_phone", "score_out_of_range", "unknown_stage",
            "unknown_timezone",
        ]),
        2: ["broker_missing"],
        3: ["score_missing"],
    }


# --- validate_snapshot, against PostgreSQL -----------------------------------------------------

RUN = "scheduled__2026-11-25T10:00:00+00:00"
OTHER_RUN = "scheduled__2026-11-25T09:00:00+00:00"

STAGED = [
    # lead_id, broker_id, stage, score, email, phone, last_activity_at
    (1, 10, "new", 50, "a@example.com", "+56911111111", RUN_AT - timedelta(days=1)),
    (2, 10, "qualified", 101, "a@example.com", None, None),
    (3, None, "bogus", None, "not-an-email", "12345", RUN_AT + timedelta(seconds=1)),
    (4, 11, "won", 0, None, "+56922222222", RUN_AT),
    (5, 11, "lost", 100, "bad@", None, None),
    (6, 10, "visit", 60, None, None, None),  # broker 10's pipeline has no "visit"
]


def stage(engine, run_id: str, rows=STAGED, rejected: bool = False) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, stage, score, email, phone,"
                " last_activity_at, is_new, rejected) VALUES (:run_id, :lead_id, :broker_id, 'Lead ' || :lead_id,"
                " :stage, :score, :email, :phone, :last_activity_at, false, :rejected)"
            ),
            [
                dict(zip(("lead_id", "broker_id", "stage", "score", "email", "phone", "last_activity_at"), row),
                     run_id=run_id, rejected=rejected)
                for row in rows
            ],
        )


def rows(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_validate_snapshot_records_and_flags_rejects(engine):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) VALUES "
                          "(10, 'new', 1), (10, 'qualified', 2), (12, 'x', 1)"))
    stage(engine, RUN)
    stage(engine, OTHER_RUN)
    stage(engine, RUN, rows=[(9, None, "bogus", None, None, None, None)], rejected=True)  # rejected before

    summary = validate_snapshot(engine, RunContext(RUN, RUN_AT))

    assert summary == {
        "validated": 6,
        "rejected": 4,
        "reasons": {
            "activity_in_future": 1, "broker_missing": 1, "malformed_email": 2, "malformed_phone": 1,
            "score_missing": 1, "score_out_of_range": 1, "unknown_stage": 1,
        },
    }
    assert rows(engine, "SELECT run_id, lead_id, reasons, rejected_at FROM lead_rejects ORDER BY lead_id") == [
        (RUN, 2, ["score_out_of_range"], RUN_AT),
        (RUN, 3, ["activity_in_future", "broker_missing", "malformed_email", "malformed_phone", "score_missing"],
         RUN_AT),
        (RUN, 5, ["malformed_email"], RUN_AT),
        (RUN, 6, ["unknown_stage"], RUN_AT),
    ]
    # the pipelines used, for the sweep to record: broker 10's (hashed), broker 11 has none
    assert rows(engine, "SELECT broker_id, pipeline_hash IS NOT NULL FROM run_pipelines WHERE run_id = :r "
                        "ORDER BY 1", r=RUN) == [(10, True), (11, False)]
    (lead,) = rows(engine, "SELECT lead FROM lead_rejects WHERE lead_id = 3")[0]
    assert lead["lead_id"] == 3 and lead["run_id"] == RUN and lead["stage"] == "bogus"
    assert lead["email"] == "not-an-email" and lead["full_name"] == "Lead 3" and lead["score"] is None
    assert "rejected" not in lead
    assert rows(engine, "SELECT lead_id FROM run_leads WHERE run_id = :r AND rejected ORDER BY lead_id", r=RUN) == [
        (2,), (3,), (5,), (6,), (9,),
    ]
    assert rows(engine, "SELECT count(*) FROM run_leads WHERE run_id = :r AND rejected", r=OTHER_RUN) == [(0,)]

    before = rows(engine, "SELECT * FROM lead_rejects ORDER BY lead_id")
    again = validate_snapshot(engine, RunContext(RUN, RUN_AT + timedelta(hours=1)))
    assert again == {"validated": 2, "rejected": 0, "reasons": {}}
    assert rows(engine, "SELECT * FROM lead_rejects ORDER BY lead_id") == before


def test_validate_snapshot_of_a_retried_task_after_a_lost_flag(engine):
    """lead_rejects already holds a row whose flag was lost: no duplicate, the flag is set."""
    stage(engine, RUN)
    validate_snapshot(engine, RunContext(RUN, RUN_AT))
    with engine.begin() as conn:
        conn.execute(text("UPDATE run_leads SET rejected = false WHERE run_id = :r"), {"r": RUN})
    summary = validate_snapshot(engine, RunContext(RUN, RUN_AT + timedelta(minutes=5)))
    assert summary["rejected"] == 3
    assert rows(engine, "SELECT count(*), min(rejected_at) FROM lead_rejects") == [(3, RUN_AT)]
    assert rows(engine, "SELECT count(*) FROM run_leads WHERE run_id = :r AND rejected", r=RUN) == [(3,)]
    assert rows(engine, "SELECT count(*) FROM run_pipelines WHERE run_id = :r", r=RUN) == [(2,)]  # no duplicates


def test_validate_snapshot_of_an_empty_run(engine):
    assert validate_snapshot(engine, RunContext("nothing", RUN_AT)) == {"validated": 0, "rejected": 0, "reasons": {}}
