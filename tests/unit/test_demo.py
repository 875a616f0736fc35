"""Demo data generator and stats report, against a real PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from include.campaigns.domain.conditions import validate_conditions
from include.campaigns.devtools.demo import MISSING_TEMPLATE_ID, REFERENCE_TIME, SNAPSHOT_RUN_ID, generate_demo
from include.campaigns.devtools.demo import STAGES
from include.campaigns.engine.actions import ACTION_NAMES as ACTIONS
from include.campaigns.triggers import TRIGGER_TYPES
from include.campaigns.devtools.report import HEADERS, format_stats_table

LEADS = 2000

FINGERPRINTS = {
    "leads": "SELECT * FROM leads ORDER BY id",
    "agents": "SELECT * FROM agents ORDER BY id",
    "brokers": "SELECT * FROM brokers ORDER BY id",
    "templates": "SELECT * FROM message_templates ORDER BY id",
    "campaigns": "SELECT * FROM campaigns ORDER BY id",
    "steps": "SELECT * FROM campaign_steps ORDER BY campaign_id, step_number",
    "snapshots": "SELECT * FROM lead_snapshots ORDER BY lead_id",
}


def fingerprint(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {name: conn.execute(text(f"SELECT md5(string_agg(t::text, '|')) FROM ({q}) t")).scalar_one()
                for name, q in FINGERPRINTS.items()}


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@pytest.fixture
def demo(engine):
    counts = generate_demo(engine, leads=LEADS, seed=6)
    return engine, counts


def test_same_seed_is_identical_and_other_seed_differs(engine):
    generate_demo(engine, leads=LEADS, seed=6)
    first = fingerprint(engine)
    generate_demo(engine, leads=LEADS, seed=6)  # reset=True replaces everything
    assert fingerprint(engine) == first
    generate_demo(engine, leads=LEADS, seed=7)
    other = fingerprint(engine)
    assert other["leads"] != first["leads"]
    assert other["snapshots"] != first["snapshots"]


def test_counts_and_requested_lead_count(demo):
    engine, counts = demo
    assert counts["leads"] == LEADS == scalar(engine, "SELECT count(*) FROM leads")
    assert scalar(engine, "SELECT min(id) FROM leads") == 1
    assert scalar(engine, "SELECT max(id) FROM leads") == LEADS
    for table in ("brokers", "agents", "message_templates", "campaigns", "campaign_steps", "lead_snapshots"):
        assert counts[table] == scalar(engine, f"SELECT count(*) FROM {table}") > 0, table
    assert counts["brokers"] == 3
    # leads spread round-robin, each assigned agent belongs to the lead's broker
    per_broker = scalar(engine, "SELECT array_agg(n ORDER BY broker_id) FROM "
                                "(SELECT broker_id, count(*) n FROM leads GROUP BY broker_id) x")
    assert max(per_broker) - min(per_broker) <= 1
    assert scalar(engine, "SELECT count(*) FROM leads l JOIN agents a ON a.id = l.assigned_agent_id"
                          " WHERE a.broker_id <> l.broker_id") == 0
    assert scalar(engine, "SELECT count(*) FROM leads l JOIN brokers b ON b.id = l.broker_id"
                          " WHERE l.timezone <> b.timezone") == 0


def test_campaign_definitions_cover_the_contract(demo):
    engine, _ = demo
    with engine.connect() as conn:
        triggers = {r[0] for r in conn.execute(text("SELECT DISTINCT trigger_type FROM campaigns"))}
        actions = {r[0] for r in conn.execute(text("SELECT DISTINCT action FROM campaign_steps"))}
        statuses = conn.execute(text("SELECT broker_id, status FROM campaigns WHERE status <> 'ACTIVE'")).all()
        conditions = [r[0] for r in conn.execute(text("SELECT conditions FROM campaign_steps"))]
        configs = dict(conn.execute(text("SELECT trigger_type, trigger_config FROM campaigns"
                                         " WHERE status = 'ACTIVE' AND broker_id = 1")).all())
        steps = conn.execute(text(
            "SELECT s.campaign_id, s.step_number, s.message_template_id, c.broker_id AS c_broker, c.channel,"
            " t.broker_id AS t_broker, t.channel AS t_channel, t.is_active"
            " FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id"
            " LEFT JOIN message_templates t ON t.id = s.message_template_id"
            " WHERE s.action = 'send_message'")).all()
        first_delays = [r[0] for r in conn.execute(text(
            "SELECT delay_hours FROM campaign_steps WHERE step_number = 1"))]
        steps_per_campaign = [r[0] for r in conn.execute(text(
            "SELECT count(*) FROM campaign_steps GROUP BY campaign_id"))]
        gaps = conn.execute(text("SELECT count(*) FROM (SELECT campaign_id, max(step_number) m, count(*) n"
                                 " FROM campaign_steps GROUP BY campaign_id) x WHERE m <> n")).scalar_one()
        update_stages = [r[0] for r in conn.execute(text(
            "SELECT config->>'stage' FROM campaign_steps WHERE action = 'update_stage'"))]
    assert triggers == set(TRIGGER_TYPES)
    assert actions == set(ACTIONS)
    assert sorted(statuses) == [(1, "DRAFT"), (1, "PAUSED")]
    assert configs == {"LEAD_SCORE": {"threshold": 70}, "STAGE_CHANGE": {"to_stage": "qualified"},
                       "INACTIVITY": {"days": 14}, "MANUAL": {}}
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE max_contacts IS NOT NULL") >= 1
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE max_contacts IS NULL") >= 1
    assert any(conditions)
    for c in conditions:
        validate_conditions(c)
    assert all(s in STAGES for s in update_stages)
    assert all(3 <= n <= 5 for n in steps_per_campaign) and gaps == 0
    assert sum(1 for d in first_delays if d == 0) > len(first_delays) / 2

    missing = [s for s in steps if s.t_broker is None]
    assert len(missing) == 1
    assert missing[0].message_template_id == MISSING_TEMPLATE_ID and missing[0].c_broker == 1
    inactive = [s for s in steps if s.is_active is False]
    assert len(inactive) == 1 and inactive[0].c_broker == 1
    for s in steps:
        if s.t_broker is not None:
            assert (s.t_broker, s.t_channel) == (s.c_broker, s.channel), s


def test_templates_use_only_known_variables(demo):
    import re

    engine, _ = demo
    allowed = {"lead.first_name", "lead.full_name", "agent.full_name", "agent.phone", "campaign.name", "broker.name"}
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT broker_id, channel, subject, body, is_active FROM message_templates")).all()
    for r in rows:
        assert set(re.findall(r"{{\s*([\w.]+)\s*}}", r.body)) <= allowed
        assert (r.subject is not None) == (r.channel == "email")
    per = {}
    for r in rows:
        per.setdefault((r.broker_id, r.channel), []).append(r.is_active)
    assert all(sorted(v) == [False, True, True] for v in per.values()) and len(per) == 9


def test_lead_quality_mix(demo):
    engine, _ = demo
    with engine.connect() as conn:
        malformed = conn.execute(text(
            "SELECT count(*) FROM leads WHERE score NOT BETWEEN 0 AND 100 OR stage <> ALL(:stages)"
            " OR email NOT LIKE '%@%' OR phone !~ '^\\+[0-9]{8,15}$' OR last_activity_at > :ref"),
            {"stages": list(STAGES), "ref": REFERENCE_TIME}).scalar_one()
        unreachable = conn.execute(text("SELECT count(*) FROM leads WHERE phone LIKE '+1500555%'")).scalar_one()
        dnc = conn.execute(text("SELECT count(*) FROM leads WHERE do_not_contact")).scalar_one()
        never = conn.execute(text("SELECT count(*) FROM leads WHERE last_activity_at IS NULL")).scalar_one()
        no_email = conn.execute(text("SELECT count(*) FROM leads WHERE email IS NULL")).scalar_one()
        old = conn.execute(text("SELECT count(*) FROM leads WHERE last_activity_at < :t"),
                           {"t": REFERENCE_TIME.replace(month=9)}).scalar_one()
        bad_emails = conn.execute(text("SELECT count(*) FROM leads WHERE email <> lower(email)"
                                       " OR email !~ '^[a-z0-9.@-]+$'")).scalar_one()
    assert 1 <= malformed <= LEADS * 0.015
    assert LEADS * 0.01 <= unreachable <= LEADS * 0.04
    assert LEADS * 0.01 <= dnc <= LEADS * 0.06
    assert LEADS * 0.02 <= never <= LEADS * 0.09
    assert LEADS * 0.10 <= no_email <= LEADS * 0.20
    assert old == 0  # within 60 days of the reference time
    assert bad_emails == 0


def test_previous_snapshot_seeds_stage_changes(demo):
    engine, counts = demo
    with engine.connect() as conn:
        snap = conn.execute(text(
            "SELECT count(*) AS n, count(*) FILTER (WHERE s.stage <> l.stage) AS moved,"
            " count(*) FILTER (WHERE s.stage <> l.stage AND l.stage = 'qualified') AS into_qualified,"
            " count(*) FILTER (WHERE s.score IS DISTINCT FROM l.score"
            "   OR s.last_activity_at IS DISTINCT FROM l.last_activity_at) AS drift,"
            " min(s.captured_at) AS lo, max(s.captured_at) AS hi, min(s.run_id) AS run_id"
            " FROM lead_snapshots s JOIN leads l ON l.id = s.lead_id")).one()
    assert snap.n == counts["lead_snapshots"]
    assert LEADS * 0.85 <= snap.n <= LEADS * 0.95
    assert snap.n * 0.02 <= snap.moved <= snap.n * 0.08
    assert snap.into_qualified >= 1
    assert snap.drift == 0
    assert snap.lo == snap.hi and snap.run_id == SNAPSHOT_RUN_ID
    assert (REFERENCE_TIME - snap.lo).total_seconds() == 3600


def test_keep_adds_after_existing_rows(demo):
    engine, _ = demo
    counts = generate_demo(engine, leads=100, brokers=1, seed=9, reset=False)
    assert scalar(engine, "SELECT count(*) FROM leads") == LEADS + 100
    assert scalar(engine, "SELECT count(*) FROM brokers") == 4
    assert counts["leads"] == 100


def test_stats_table_lists_every_campaign(demo):
    engine, _ = demo
    out = format_stats_table(engine)
    header = out.splitlines()[0]
    assert header.split() == list(HEADERS)
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT name FROM campaigns"))]
    for name in names:
        assert name in out
    assert f"TOTAL ({len(names)} campaigns)" in out
    assert "last run: none yet" in out


def test_stats_table_reports_last_run_and_rejects(demo):
    engine, _ = demo
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO pipeline_runs (run_id, run_at, mode, counts) VALUES"
                          " ('old', :a, 'sweep', '{\"leads\": 1}'),"
                          " ('new', :b, 'sweep', CAST(:c AS jsonb))"),
                     {"a": REFERENCE_TIME.replace(hour=8), "b": REFERENCE_TIME,
                      "c": json.dumps({"leads": 2000, "rejected": 3})})
        conn.execute(text("DELETE FROM lead_snapshots"))
        conn.execute(text("INSERT INTO lead_snapshots (lead_id, broker_id, stage, captured_at, rejected, reject_reasons)"
                          " VALUES (1, 1, 'x', :t, true, ARRAY['bad_score', 'bad_email']),"
                          " (2, 1, 'x', :t, true, ARRAY['bad_score']), (3, 1, 'x', :t, true, ARRAY['bad_stage']),"
                          " (4, 1, 'x', :t, false, NULL)"), {"t": REFERENCE_TIME})
        conn.execute(text("INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, status, error)"
                          " SELECT min(id), 1, 1, :t, 'ERROR', 'KeyError: x' FROM campaigns"), {"t": REFERENCE_TIME})
        cid = conn.execute(text("SELECT min(id) FROM campaigns")).scalar_one()
        conn.execute(text("INSERT INTO campaign_stats (campaign_id, sent, failed, skipped) VALUES (:c, 5, 2, 1)"),
                     {"c": cid})
        conn.execute(text("INSERT INTO campaign_logs (campaign_id, lead_id, status, reason, executed_at) VALUES "
                          "(:c, 1, 'SKIPPED', 'goal_reached', :t), (:c, 2, 'SKIPPED', 'frequency_capped', :t), "
                          "(:c, 3, 'SKIPPED', 'frequency_capped', :t)"), {"c": cid, "t": REFERENCE_TIME})
    out = format_stats_table(engine)
    assert "last run: new at 2026-11-25T10:00:00+00:00 (sweep): leads=2000 rejected=3" in out
    assert ("leads set aside by validation (not read again until they change): 3 "
            "(top reasons: bad_score=2, bad_email=1, bad_stage=1)") in out
    assert "enrolments set aside by an engine error: 1" in out
    total = next(line for line in out.splitlines() if "TOTAL" in line)
    assert total.split()[-5:] == ["5", "2", "1", "1", "2"]  # sent failed skipped | goal reached, frequency capped
