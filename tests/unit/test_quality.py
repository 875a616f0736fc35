"""The lead quality gate: each rule at its boundaries, and the rejects written to PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text

from include.campaigns.quality.expectations import LEAD_EXPECTATIONS
from include.campaigns.quality.gx_runner import build_suite, find_rejects
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


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """One lead per row, clean unless overridden; lead ids 1..n unless given."""
    return pd.DataFrame([{"lead_id": i, **CLEAN, **row} for i, row in enumerate(rows, start=1)])


def test_rules_are_data_and_build_a_suite():
    reasons = {rule["reason"] for rule in LEAD_EXPECTATIONS}
    assert reasons == {
        "score_missing", "score_out_of_range", "stage_missing", "unknown_stage", "broker_missing", "malformed_email",
        "malformed_phone", "activity_in_future", "unknown_timezone", "duplicate_lead_id",
    }
    assert all(set(rule) == {"expectation", "kwargs", "reason"} for rule in LEAD_EXPECTATIONS)
    assert json.loads(json.dumps(LEAD_EXPECTATIONS)) == LEAD_EXPECTATIONS  # plain data
    suite = build_suite()
    assert [e.meta["reason"] for e in suite.expectations] == [rule["reason"] for rule in LEAD_EXPECTATIONS]


def test_unknown_expectation_name_is_an_error():
    with pytest.raises(ValueError, match="ExpectMagic"):
        build_suite([{"expectation": "ExpectMagic", "kwargs": {}, "reason": "x"}])


def test_an_expectation_that_cannot_run_is_an_error_not_a_pass():
    broken = {"expectation": "ExpectColumnValuesToBeBetween", "kwargs": {"column": "stage", "min_value": 0},
              "reason": "nonsense"}
    with pytest.raises(RuntimeError, match="could not run"):
        find_rejects(frame({}), RUN_AT, rules=[*LEAD_EXPECTATIONS, broken])


def test_clean_frame_has_no_rejects():
    df = frame({}, {"email": None, "phone": None, "last_activity_at": None})
    df["full_name"] = "Ana"  # columns no rule reads are ignored
    assert find_rejects(df, RUN_AT) == {}


def test_empty_frame_has_no_rejects():
    assert find_rejects(frame().reindex(columns=["lead_id", *CLEAN]), RUN_AT) == {}


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, []), (100, []), (-1, ["score_out_of_range"]), (101, ["score_out_of_range"]), (None, ["score_missing"])],
)
def test_score(score, expected):
    rejects = find_rejects(frame({}, {"score": score}), RUN_AT)
    assert rejects == ({2: expected} if expected else {})


def test_score_as_nullable_integers():
    df = frame({"score": 100}, {"score": 101}, {"score": None})
    df["score"] = df["score"].astype("Int64")
    assert find_rejects(df, RUN_AT) == {2: ["score_out_of_range"], 3: ["score_missing"]}


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
def test_stage_against_the_brokers_own_pipeline(broker_id, stage, expected):
    rejects = find_rejects(frame({"broker_id": broker_id, "stage": stage}), RUN_AT, PIPELINES)
    assert rejects == ({1: expected} if expected else {})


def test_without_pipelines_every_stage_is_accepted():
    assert find_rejects(frame({"stage": "zombie"}, {"stage": "qualified"}), RUN_AT) == {}


@pytest.mark.parametrize(("tz", "ok"), [(None, True), ("Europe/Madrid", True), ("America/Argentina/Buenos_Aires", True),
                                         ("UTC", True), ("Mars/Olympus", False), ("GMT+3", False), ("", False)])
def test_timezone(tz, ok):
    assert find_rejects(frame({"timezone": tz}), RUN_AT) == ({} if ok else {1: ["unknown_timezone"]})


def test_broker_missing():
    assert find_rejects(frame({"broker_id": None}, {}), RUN_AT) == {1: ["broker_missing"]}


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        (None, True),
        ("ana@example.com", True),
        ("ana.perez+crm@mail.example.co", True),
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
def test_email(email, ok):
    assert find_rejects(frame({"email": email}), RUN_AT) == ({} if ok else {1: ["malformed_email"]})


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
def test_phone(phone, ok):
    assert find_rejects(frame({"phone": phone}), RUN_AT) == ({} if ok else {1: ["malformed_phone"]})


def test_activity_at_run_time_passes_one_second_later_fails():
    rejects = find_rejects(
        frame(
            {"last_activity_at": RUN_AT},
            {"last_activity_at": RUN_AT + timedelta(seconds=1)},
            {"last_activity_at": None},
        ),
        RUN_AT,
    )
    assert rejects == {2: ["activity_in_future"]}


def test_activity_compares_instants_across_time_zones():
    santiago = timezone(timedelta(hours=-3))
    run_at = RUN_AT.astimezone(santiago)  # same instant, other offset
    df = frame(
        {"last_activity_at": RUN_AT},
        {"last_activity_at": (RUN_AT + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5)))},
        {"last_activity_at": RUN_AT.astimezone(santiago) - timedelta(seconds=1)},
    )
    df["last_activity_at"] = df["last_activity_at"].astype(object)  # mixed offsets, as a driver may give them
    assert find_rejects(df, run_at) == {2: ["activity_in_future"]}


def test_naive_run_at_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        find_rejects(frame({}), RUN_AT.replace(tzinfo=None))


def test_duplicate_lead_ids_reject_every_copy():
    df = frame({}, {}, {})
    df.loc[2, "lead_id"] = 1
    assert find_rejects(df, RUN_AT) == {1: ["duplicate_lead_id"]}


def test_index_of_the_frame_does_not_matter():
    df = frame({}, {"score": 101}).set_index(pd.Index([70, 30], name="whatever"))
    assert find_rejects(df, RUN_AT) == {2: ["score_out_of_range"]}


def test_several_problems_give_every_reason_sorted():
    bad = {
        "broker_id": 1, "stage": "lost-ish", "score": 250, "email": "nope", "phone": "123",
        "last_activity_at": RUN_AT + timedelta(days=1), "timezone": "Nowhere/Land",
    }
    df = frame(bad, {"broker_id": None}, {"score": None, "broker_id": 7, "stage": "offer"})
    df.loc[1, "lead_id"] = 1
    assert find_rejects(df, RUN_AT, PIPELINES) == {
        1: sorted([
            "activity_in_future", "broker_missing", "duplicate_lead_id", "malformed_email", "malformed_phone",
            "score_out_of_range", "unknown_stage", "unknown_timezone",
        ]),
        3: ["score_missing"],
    }


def test_missing_column_is_an_error():
    with pytest.raises(ValueError, match="phone"):
        find_rejects(frame({}).drop(columns=["phone"]), RUN_AT)


def test_missing_lead_id_is_an_error():
    with pytest.raises(ValueError, match="lead_id"):
        find_rejects(frame({"lead_id": None}, {}), RUN_AT)


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
