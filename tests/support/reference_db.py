"""The database side of the 20,000-lead reference test: load the CRM world, apply the CRM's and the admins'
changes before a sweep, run the DAG's stages as its tasks call them, and compare what the database holds with
what the reference expects."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.execute import execute_chunk
from include.campaigns.engine.finish import finish_run
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.validate import validate_snapshot
from tests.reference_model import Sweep

LEAD_COLUMNS = ("id", "broker_id", "full_name", "email", "phone", "stage", "score", "last_activity_at",
                "assigned_agent_id", "do_not_contact", "timezone", "updated_at")
MAX_CHUNKS, MIN_CHUNK_SIZE = 4, 1000


def load(engine, *, brokers, pipelines, agents, templates, campaigns, steps, leads, frequency_caps=()) -> None:
    """Insert the CRM's rows, the campaign definitions (``campaigns`` have ids; ``steps`` theirs) and the
    brokers' frequency caps."""
    with engine.begin() as c:
        c.execute(text("INSERT INTO brokers (id, name, timezone) VALUES (:id, :name, :timezone)"), brokers)
        set_pipelines(c, pipelines)
        c.execute(text("INSERT INTO agents (id, broker_id, full_name, email, phone) "
                       "VALUES (:id, :broker_id, :full_name, :email, :phone)"), agents)
        c.execute(text("INSERT INTO message_templates (id, broker_id, channel, name, subject, body, is_active) "
                       "VALUES (:id, :broker_id, :channel, :name, :subject, :body, :is_active)"), templates)
        c.execute(text(
            "INSERT INTO campaigns (id, broker_id, name, channel, trigger_type, trigger_config, status, max_contacts, "
            "quiet_hours, goal) VALUES (:id, :broker_id, :name, :channel, :trigger_type, CAST(:tc AS jsonb), :status, "
            ":max_contacts, CAST(:qh AS jsonb), CAST(:goal AS jsonb))"),
            [{**cp, "tc": json.dumps(cp["trigger_config"]), "qh": _json_or_null(cp.get("quiet_hours")),
              "goal": _json_or_null(cp.get("goal"))} for cp in campaigns])
        # steps by SQL, as an admin API would refuse some of them (stages outside the broker's pipeline)
        c.execute(text(
            "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id, "
            "conditions, config) VALUES (:campaign_id, :step_number, :action, :delay_hours, :message_template_id, "
            "CAST(:co AS jsonb), CAST(:cf AS jsonb))"),
            [{**st, "co": json.dumps(st["conditions"]), "cf": json.dumps(st["config"])} for st in steps])
        insert_leads(c, leads)
        by_broker: dict[int, list[dict]] = {}
        for cap in frequency_caps:
            by_broker.setdefault(cap["broker_id"], []).append(cap)
        set_frequency_caps(c, by_broker)


def _json_or_null(value) -> str | None:
    return None if value is None else json.dumps(value)


def set_frequency_caps(conn, by_broker: dict[int, list[dict]]) -> None:
    """Replace the frequency caps of each broker named (channel, max_contacts, per_hours each)."""
    caps = [dict(cap, broker_id=b) for b, per in by_broker.items() for cap in per]
    if by_broker:
        conn.execute(text("DELETE FROM frequency_caps WHERE broker_id = ANY(:b)"), {"b": list(by_broker)})
    if caps:
        conn.execute(text("INSERT INTO frequency_caps (broker_id, channel, max_contacts, per_hours) "
                          "VALUES (:broker_id, :channel, :max_contacts, :per_hours)"), caps)


def set_pipelines(conn, pipelines: dict[int, list[str]]) -> None:
    """Replace the pipeline of each broker named (an empty list: no rows)."""
    for broker_id, stages in pipelines.items():
        conn.execute(text("DELETE FROM pipeline_stages WHERE broker_id = :b"), {"b": broker_id})
        if stages:
            conn.execute(text("INSERT INTO pipeline_stages (broker_id, stage, position) VALUES (:b, :s, :p)"),
                         [{"b": broker_id, "s": stage, "p": n} for n, stage in enumerate(stages, start=1)])


def insert_leads(conn, leads: list[dict]) -> None:
    if leads:
        conn.execute(text(f"INSERT INTO leads ({', '.join(LEAD_COLUMNS)}) "
                          f"VALUES ({', '.join(':' + k for k in LEAD_COLUMNS)})"),
                     [{k: lead[k] for k in LEAD_COLUMNS} for lead in leads])


def apply_changes(engine, s: Sweep) -> None:
    """What the CRM and the admins change before sweep ``s``, in the order the reference applies it."""
    with engine.begin() as c:
        insert_leads(c, s.new_leads)
        by_columns: dict[tuple[str, ...], list[dict]] = {}
        for lead_id, values in s.lead_updates.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({"id": lead_id, **values})
        for cols, rows_ in by_columns.items():
            c.execute(text(f"UPDATE leads SET {', '.join(f'{k} = :{k}' for k in cols)} WHERE id = :id"), rows_)
        if s.deleted_leads:
            c.execute(text("DELETE FROM leads WHERE id = ANY(:ids)"), {"ids": list(s.deleted_leads)})
        set_pipelines(c, s.pipelines)
        set_frequency_caps(c, s.frequency_caps)
        for cid, status in s.campaign_status.items():
            c.execute(text("UPDATE campaigns SET status = :s WHERE id = :i"), {"s": status, "i": cid})


def run_pipeline(engine, s: Sweep, parallel: bool) -> dict[str, float]:
    """The DAG's tasks in order, as functions; returns the seconds each took (printed with -s)."""
    run = RunContext(s.run_id, s.run_at)
    took: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        took[name] = round(time.perf_counter() - t, 2)
        return out

    timed("start", start_run, engine, run)
    timed("snapshot", snapshot_leads, engine, run)
    timed("validate", validate_snapshot, engine, run)
    timed("evaluate", evaluate_triggers, engine, run)
    timed("enrol", enrol_leads, engine, run)
    settings = EngineSettings(max_chunks=MAX_CHUNKS, min_chunk_size=MIN_CHUNK_SIZE)
    chunks = timed("plan", plan_due_steps, engine, run, settings)
    if parallel:
        with ThreadPoolExecutor(2) as pool:
            timed("execute", lambda: list(pool.map(lambda chunk: execute_chunk(engine, run, chunk), chunks)))
    else:
        timed("execute", lambda: [execute_chunk(engine, run, chunk) for chunk in chunks])
    timed("finish", finish_run, engine, run)
    print(s.run_id, f"{len(chunks)} chunks", took)
    return took


def rows(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def logs_of_run(engine, run_id: str) -> set[tuple]:
    return {normalise(r) for r in rows(
        engine, "SELECT campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, channel "
                "FROM campaign_logs WHERE run_id = :r", r=run_id)}


def rejects_of_run(engine, run_id: str) -> set[tuple[int, tuple[str, ...]]]:
    """(lead id, reasons) of every row the run set aside."""
    return {(lead_id, tuple(reasons)) for lead_id, reasons in rows(
        engine, "SELECT lead_id, reasons FROM lead_rejects WHERE run_id = :r", r=run_id)}


def normalise(row: tuple) -> tuple:
    """The detail of a render error is Jinja's wording; the reason and the error class must match."""
    reason = row[5]
    if reason and reason.startswith("render_error: "):
        reason = ": ".join(reason.split(": ")[:2])
    return (*row[:5], reason, *row[6:])


def assert_same(label: str, got: set, expected: set) -> None:
    if got == expected:
        return
    missing, extra = sorted(expected - got, key=repr), sorted(got - expected, key=repr)

    def summary(items):
        return Counter((r[0], r[2], r[4], r[5]) if len(r) >= 6 else r[:2] for r in items).most_common(8)

    pytest.fail(
        f"{label}: {len(got)} rows in the database, {len(expected)} expected; "
        f"{len(missing)} missing, {len(extra)} unexpected.\n"
        f"missing (first 15): {missing[:15]}\nunexpected (first 15): {extra[:15]}\n"
        f"missing by (campaign, step, status, reason): {summary(missing)}\n"
        f"unexpected by (campaign, step, status, reason): {summary(extra)}"
    )
