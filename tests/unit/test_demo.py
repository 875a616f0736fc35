"""Demo data (the shared synthetic generator with the demo's parameters) and the stats report, against a real
PostgreSQL."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sqlalchemy import text

from include.campaigns.devtools.demo import MISSING_TEMPLATE_ID, REFERENCE_TIME, SNAPSHOT_RUN_ID, generate_demo
from include.campaigns.devtools.report import HEADERS, format_stats_table
from include.campaigns.devtools.synthetic_catalogue import PROFILES, VOCABULARIES
from include.campaigns.devtools.synthetic_leads import MALFORMED_KINDS, InvalidRule
from include.campaigns.domain.conditions import validate_conditions
from include.campaigns.engine.actions import ACTION_NAMES as ACTIONS
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.snapshot import snapshot_leads
from include.campaigns.quality.validate import validate_snapshot
from include.campaigns.triggers import TRIGGER_TYPES

LEADS = 2000

FINGERPRINTS = {
    "leads": "SELECT * FROM leads ORDER BY id",
    "agents": "SELECT * FROM agents ORDER BY id",
    "brokers": "SELECT * FROM brokers ORDER BY id",
    "pipelines": "SELECT * FROM pipeline_stages ORDER BY broker_id, position",
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


def pipelines(engine) -> dict[int, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT b.id, array_remove(array_agg(p.stage ORDER BY p.position), NULL)"
                                 " FROM brokers b LEFT JOIN pipeline_stages p ON p.broker_id = b.id"
                                 " GROUP BY b.id ORDER BY b.id")).all()
    return {b: list(stages) for b, stages in rows}


def malformed_ids(engine, share: float = 0.005) -> set[int]:
    with engine.connect() as conn:
        ids = np.array(conn.execute(text("SELECT id FROM leads ORDER BY id")).scalars().all(), dtype=np.int64)
    return set(ids[InvalidRule(share).mask(ids)].tolist())


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
    assert other["pipelines"] == first["pipelines"]  # a broker's pipeline is its profile's, not the seed's


def test_counts_and_requested_lead_count(demo):
    engine, counts = demo
    assert counts["leads"] == LEADS == scalar(engine, "SELECT count(*) FROM leads")
    assert scalar(engine, "SELECT min(id) FROM leads") == 1
    assert scalar(engine, "SELECT max(id) FROM leads") == LEADS
    for table in ("brokers", "agents", "message_templates", "campaigns", "campaign_steps", "lead_snapshots",
                  "pipeline_stages"):
        assert counts[table] == scalar(engine, f"SELECT count(*) FROM {table}") > 0, table
    assert counts["brokers"] == 3
    # leads spread round-robin, each assigned agent belongs to the lead's broker
    per_broker = scalar(engine, "SELECT array_agg(n ORDER BY broker_id) FROM "
                                "(SELECT broker_id, count(*) n FROM leads GROUP BY broker_id) x")
    assert max(per_broker) - min(per_broker) <= 1
    assert scalar(engine, "SELECT count(*) FROM leads l JOIN agents a ON a.id = l.assigned_agent_id"
                          " WHERE a.broker_id <> l.broker_id") == 0
    other_zone = scalar(engine, "SELECT array_agg(l.id) FROM leads l JOIN brokers b ON b.id = l.broker_id"
                                " WHERE l.timezone <> b.timezone")
    assert set(other_zone) <= malformed_ids(engine)  # only the deliberately unknown time zones


def test_each_broker_has_its_own_pipeline_and_one_has_none(engine):
    generate_demo(engine, leads=600, brokers=len(PROFILES), seed=6)
    by_broker = pipelines(engine)
    with_rows = [tuple(s) for s in by_broker.values() if s]
    assert len(with_rows) == len(set(with_rows)) >= 4  # not all the same words
    assert len({frozenset(s) for s in with_rows}) == len(with_rows)
    assert [b for b, s in by_broker.items() if not s] == [3]
    assert min(len(s) for s in with_rows) < max(len(s) for s in with_rows)  # some pipelines are shorter
    # the broker without a pipeline keeps free text, several words and none of them empty
    free = scalar(engine, "SELECT array_agg(DISTINCT stage) FROM leads WHERE broker_id = 3"
                          f" AND NOT {InvalidRule.SQL}", **InvalidRule(0.005).sql_params())
    assert len(free) >= 5 and all(s.strip() for s in free)
    assert any(" " in s for s in free)


def test_every_valid_lead_is_in_its_brokers_pipeline(demo):
    engine, _ = demo
    by_broker = pipelines(engine)
    bad = malformed_ids(engine)
    assert 1 <= len(bad) <= LEADS * 0.01
    with engine.connect() as conn:
        leads = conn.execute(text("SELECT id, broker_id, stage FROM leads")).all()
        snapshots = conn.execute(text("SELECT s.broker_id, s.stage, s.valid_stage FROM lead_snapshots s")).all()
    outside = {lead.id for lead in leads
               if (by_broker[lead.broker_id] and lead.stage not in by_broker[lead.broker_id]) or not lead.stage.strip()}
    assert outside and outside <= bad
    for s in snapshots:
        assert s.stage == s.valid_stage
        assert not by_broker[s.broker_id] or s.stage in by_broker[s.broker_id]


def test_campaign_stages_are_the_brokers_own(engine):
    generate_demo(engine, leads=600, brokers=len(PROFILES), seed=6)
    by_broker = pipelines(engine)
    with engine.connect() as conn:
        lead_stages = {}
        for b, s in conn.execute(text("SELECT DISTINCT broker_id, stage FROM leads WHERE stage ~ '\\S'")):
            lead_stages.setdefault(b, set()).add(s)
        named = conn.execute(text(
            "SELECT c.broker_id, c.trigger_config->>'to_stage' FROM campaigns c WHERE trigger_type = 'STAGE_CHANGE'"
            " UNION ALL SELECT c.broker_id, s.config->>'stage' FROM campaign_steps s"
            " JOIN campaigns c ON c.id = s.campaign_id WHERE s.action = 'update_stage'"
            " UNION ALL SELECT c.broker_id, x.stage FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id,"
            " LATERAL (SELECT s.conditions->'stage'->>'eq' UNION ALL"
            "          SELECT jsonb_array_elements_text(s.conditions->'stage'->'in')) AS x(stage)"
            " WHERE s.conditions ? 'stage' AND x.stage IS NOT NULL")).all()
        to_stages = dict(conn.execute(text("SELECT broker_id, trigger_config->>'to_stage' FROM campaigns"
                                           " WHERE trigger_type = 'STAGE_CHANGE'")).all())
    assert len({b for b, _ in named}) == len(PROFILES)
    for broker, stage in named:
        if by_broker[broker]:
            assert stage in by_broker[broker], (broker, stage)
        else:  # no pipeline: a word the broker's own leads use
            assert stage in lead_stages[broker], (broker, stage)
    # one spec, each broker's own word: "qualified" differs per vocabulary
    assert to_stages == {k + 1: VOCABULARIES[p.vocabulary].by_role["qualified"] for k, p in enumerate(PROFILES)}
    assert len(set(to_stages.values())) == len(PROFILES)


def test_validation_rejects_exactly_the_malformed_leads_with_every_reason(engine):
    share = 0.05
    generate_demo(engine, leads=LEADS, seed=6, invalid_share=share)
    bad = malformed_ids(engine, share)
    assert len(bad) == pytest.approx(LEADS * share, abs=2)
    kinds = {InvalidRule(share).kind(i) for i in bad}
    assert kinds == set(MALFORMED_KINDS)
    run = RunContext("demo-validation", REFERENCE_TIME)
    start_run(engine, run)
    staged = snapshot_leads(engine, run)
    assert staged["leads_staged"] == LEADS  # no sweep yet: every lead is read
    result = validate_snapshot(engine, run)
    with engine.connect() as conn:
        rejected = set(conn.execute(text("SELECT lead_id FROM lead_rejects WHERE run_id = :r"),
                                    {"r": run.run_id}).scalars())
    assert rejected == bad
    assert set(result["reasons"]) == {"score_out_of_range", "score_missing", "unknown_stage", "stage_missing",
                                      "malformed_email", "malformed_phone", "activity_in_future",
                                      "unknown_timezone"}
    # set-based SQL finds the same leads from the rule's parameters alone
    assert scalar(engine, f"SELECT count(*) FROM leads WHERE {InvalidRule.SQL}",
                  **InvalidRule(share).sql_params()) == len(bad)


def test_invalid_rule_holds_its_share_exactly():
    ids = np.arange(1, 3 * InvalidRule.MOD + 1)
    for share in (0.005, 0.5, 0.0, 1.0):
        assert InvalidRule(share).mask(ids).sum() == round(share * InvalidRule.MOD) * 3
    with pytest.raises(ValueError):
        InvalidRule(1.5)


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
    assert triggers == set(TRIGGER_TYPES)
    assert actions == set(ACTIONS)
    assert sorted(statuses) == [(1, "DRAFT"), (1, "PAUSED")]
    assert configs == {"LEAD_SCORE": {"threshold": 70}, "STAGE_CHANGE": {"to_stage": "calificado"},
                       "INACTIVITY": {"days": 14}, "MANUAL": {}}
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE max_contacts IS NOT NULL") >= 1
    assert scalar(engine, "SELECT count(*) FROM campaigns WHERE max_contacts IS NULL") >= 1
    assert any(conditions)
    for c in conditions:
        validate_conditions(c)
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
    bad = malformed_ids(engine)
    with engine.connect() as conn:
        def count(where: str) -> int:
            return conn.execute(text(f"SELECT count(*) FROM leads WHERE NOT (id = ANY(:bad)) AND ({where})"),
                                {"bad": sorted(bad), "ref": REFERENCE_TIME}).scalar_one()

        broken = count("score NOT BETWEEN 0 AND 100 OR score IS NULL OR email NOT LIKE '%@%'"
                       " OR phone !~ '^\\+[1-9][0-9]{7,14}$' OR last_activity_at > :ref")
        unreachable = count("phone LIKE '+1500555%'")
        bouncing = count("email LIKE '%.invalid'")
        dnc, never = count("do_not_contact"), count("last_activity_at IS NULL")
        no_email, no_agent = count("email IS NULL"), count("assigned_agent_id IS NULL")
        old = count("last_activity_at < CAST(:ref AS timestamptz) - interval '61 days'")
        odd_emails = count("email <> lower(email) OR email !~ '^[a-z0-9.@-]+$'")
    assert broken == 0  # only the deliberately malformed leads break a rule
    assert LEADS * 0.01 <= unreachable <= LEADS * 0.04
    assert 1 <= bouncing <= LEADS * 0.03
    assert LEADS * 0.01 <= dnc <= LEADS * 0.06
    assert LEADS * 0.02 <= never <= LEADS * 0.09
    assert LEADS * 0.10 <= no_email <= LEADS * 0.20
    assert LEADS * 0.05 <= no_agent <= LEADS * 0.15
    assert old == 0  # within 60 days of the reference time
    assert odd_emails == 0


def test_previous_snapshot_seeds_stage_changes(demo):
    engine, counts = demo
    with engine.connect() as conn:
        snap = conn.execute(text(
            "SELECT count(*) AS n, count(*) FILTER (WHERE s.stage <> l.stage) AS moved,"
            " count(*) FILTER (WHERE s.stage <> l.stage AND l.stage = c.trigger_config->>'to_stage') AS into_to_stage,"
            " count(*) FILTER (WHERE s.score IS DISTINCT FROM l.score"
            "   OR s.last_activity_at IS DISTINCT FROM l.last_activity_at OR s.timezone IS DISTINCT FROM l.timezone"
            "   OR s.email IS DISTINCT FROM l.email OR s.phone IS DISTINCT FROM l.phone) AS drift,"
            " count(*) FILTER (WHERE s.rejected) AS rejected,"
            " min(s.captured_at) AS lo, max(s.captured_at) AS hi, min(s.run_id) AS run_id"
            " FROM lead_snapshots s JOIN leads l ON l.id = s.lead_id"
            " JOIN campaigns c ON c.broker_id = l.broker_id AND c.trigger_type = 'STAGE_CHANGE'")).one()
    assert snap.n == counts["lead_snapshots"]
    assert LEADS * 0.85 <= snap.n <= LEADS * 0.95
    assert snap.n * 0.02 <= snap.moved <= snap.n * 0.08
    assert snap.into_to_stage >= 3
    assert snap.drift == 0 and snap.rejected == 0
    assert snap.lo == snap.hi and snap.run_id == SNAPSHOT_RUN_ID
    assert (REFERENCE_TIME - snap.lo).total_seconds() == 3600
    assert not malformed_ids(engine) & set(
        scalar(engine, "SELECT array_agg(lead_id) FROM lead_snapshots"))  # malformed leads are new to the engine


def test_keep_adds_after_existing_rows(demo):
    engine, _ = demo
    counts = generate_demo(engine, leads=100, brokers=1, seed=9, reset=False)
    assert scalar(engine, "SELECT count(*) FROM leads") == LEADS + 100
    assert scalar(engine, "SELECT count(*) FROM brokers") == 4
    assert counts["leads"] == 100
    # the new broker has its own pipeline rows and its campaigns use its templates
    assert pipelines(engine)[4] == pipelines(engine)[1]
    assert scalar(engine, "SELECT count(*) FROM campaign_steps s JOIN campaigns c ON c.id = s.campaign_id"
                          " JOIN message_templates t ON t.id = s.message_template_id"
                          " WHERE c.broker_id = 4 AND t.broker_id <> 4") == 0


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
