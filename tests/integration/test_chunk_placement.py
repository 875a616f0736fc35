"""How a run's due enrolments are placed in chunks (plan_due_enrolments.sql).

Chunks of about equal numbers of leads; all enrolments of a lead in one chunk; the leads of an agent in one chunk,
so two chunks running side by side never take the same agent's booking lock -- except an agent with more than a
quarter of a chunk's share, whose leads stay spread so that the chunks stay about equal. The plan returns the
chunk numbers it used, and executing them runs every due step.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import text

from include.campaigns.engine.enrol import enrol_leads
from include.campaigns.engine.evaluate import evaluate_triggers
from include.campaigns.engine.execute import execute_chunk
from include.campaigns.engine.plan import plan_due_steps
from include.campaigns.engine.run import RunContext, start_run
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.snapshot import snapshot_leads
from tests.factories import T0, add_agent, add_broker, add_campaign, add_lead, add_template, logs

pytestmark = pytest.mark.integration

SMALL_AGENTS = range(1, 11)  # 3 leads each, their lead ids interleaved with the others'
BIG_AGENT = 11  # 40 leads: more than a quarter of a chunk's share
LEADS_WITHOUT_AGENT = 10


@pytest.fixture
def world(engine):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    for agent in [*SMALL_AGENTS, BIG_AGENT]:
        add_agent(engine, agent, 1)
    agent_of: dict[int, int | None] = {}
    lead = 0
    for _ in range(3):
        for agent in SMALL_AGENTS:
            lead += 1
            agent_of[lead] = agent
    for _ in range(40):
        lead += 1
        agent_of[lead] = BIG_AGENT
    for _ in range(LEADS_WITHOUT_AGENT):
        lead += 1
        agent_of[lead] = None
    for lead_id, agent in sorted(agent_of.items(), key=lambda kv: (kv[0] * 37) % 101):  # not in id order
        add_lead(engine, lead_id, score=90, assigned_agent_id=agent)
    trig = {"trigger_type": "LEAD_SCORE", "trigger_config": {"threshold": 70}}
    first = add_campaign(engine, name="A", **trig, steps=[
        {"action": "send_message", "message_template_id": 10},
        {"action": "schedule_meeting", "config": {"duration_minutes": 30}}])
    second = add_campaign(engine, name="B", **trig, steps=[{"action": "make_call"}])
    return agent_of, (first, second)


def plan(engine, run: RunContext, max_chunks: int) -> list[int]:
    start_run(engine, run)
    snapshot_leads(engine, run)
    evaluate_triggers(engine, run)
    enrol_leads(engine, run)
    return plan_due_steps(engine, run, EngineSettings(max_chunks=max_chunks, min_chunk_size=1))


def placement(engine, run_id: str) -> dict[tuple[int, int], int]:
    with engine.connect() as c:
        return {(cid, lead): chunk for cid, lead, chunk in c.execute(text(
            "SELECT campaign_id, lead_id, chunk_no FROM run_plan WHERE run_id = :r"), {"r": run_id})}


def test_an_agents_leads_share_a_chunk_and_every_due_step_runs(engine, world):
    agent_of, campaigns = world
    run = RunContext("scheduled__placement", T0)
    chunks = plan(engine, run, max_chunks=4)
    placed = placement(engine, run.run_id)
    assert len(placed) == 2 * len(agent_of)  # every lead, in both campaigns
    assert chunks == sorted(set(placed.values()))  # the numbers used, whatever they are

    chunks_of_lead: dict[int, set[int]] = defaultdict(set)
    for (_cid, lead), chunk in placed.items():
        chunks_of_lead[lead].add(chunk)
    assert all(len(c) == 1 for c in chunks_of_lead.values())  # a lead's enrolments share a chunk
    chunks_of_agent: dict[int | None, set[int]] = defaultdict(set)
    for lead, (chunk,) in chunks_of_lead.items():
        chunks_of_agent[agent_of[lead]].add(chunk)
    for agent in SMALL_AGENTS:
        assert len(chunks_of_agent[agent]) == 1, f"agent {agent} spans chunks {chunks_of_agent[agent]}"
    assert len(chunks_of_agent[BIG_AGENT]) > 1  # 40 of 80 leads: spread, or one chunk would hold half the run
    sizes = [sum(1 for c in chunks_of_lead.values() if chunk in c) for chunk in chunks]
    assert max(sizes) <= 2 * (len(agent_of) / len(chunks)), sizes  # about equal

    for chunk in chunks:
        execute_chunk(engine, run, chunk)
    for cid in campaigns:
        first_steps = [lead for lead, step, _a, _s, _r, _t in logs(engine, cid) if step == 1]
        assert sorted(first_steps) == sorted(agent_of)  # each lead's first step, once
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM run_plan WHERE run_id = :r"), {"r": run.run_id}).scalar() == 160


def test_a_single_chunk_holds_everything(engine, world):
    run = RunContext("scheduled__one_chunk", T0)
    assert plan(engine, run, max_chunks=1) == [0]
    assert set(placement(engine, run.run_id).values()) == {0}


@pytest.mark.parametrize("min_chunk_size, max_chunks, parallel_chunks, expected", [
    (30, 16, 2, 4),   # 80 leads are 3 chunks' worth: on 2 slots one would idle while the other ran a second
    (30, 16, 1, 3),   # one slot: as many chunks as the leads need
    (30, 3, 2, 3),    # never above campaigns_max_chunks
    (100, 16, 4, 1),  # a run of one chunk's worth stays one chunk
])
def test_a_split_run_is_split_into_a_multiple_of_the_chunks_that_run_side_by_side(
        engine, world, min_chunk_size, max_chunks, parallel_chunks, expected):
    agent_of, _ = world
    run = RunContext(f"scheduled__parallel_{min_chunk_size}_{max_chunks}_{parallel_chunks}", T0)
    start_run(engine, run)
    snapshot_leads(engine, run)
    evaluate_triggers(engine, run)
    enrol_leads(engine, run)
    settings = EngineSettings(max_chunks=max_chunks, min_chunk_size=min_chunk_size, parallel_chunks=parallel_chunks)
    assert plan_due_steps(engine, run, settings) == list(range(expected))
    assert len(placement(engine, run.run_id)) == 2 * len(agent_of)
