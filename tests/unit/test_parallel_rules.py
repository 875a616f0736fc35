"""Sharding the rule evaluation over worker processes gives the same matches as one process."""

import random

from include.campaigns.engine.evaluate import match_candidates
from include.campaigns.triggers import TriggerDefinition


def test_sharded_evaluation_equals_single_process():
    rng = random.Random(4)
    defs = [TriggerDefinition(c, 1 + c % 4, "LEAD_SCORE", {"threshold": rng.randint(20, 90)}) for c in range(1, 9)]
    rows = []
    for lead in range(6_000):
        d = rng.choice(defs)
        rows.append((lead, d.campaign_id, d.broker_id, rng.randint(0, 100), "new", False, None))
    single = sorted(match_candidates(defs, rows, "sweep", workers=1))
    sharded = sorted(match_candidates(defs, rows, "sweep", workers=2, parallel_events=2_000))
    assert sharded == single
    assert len(single) == sum(1 for r in rows if r[3] > next(d for d in defs if d.campaign_id == r[1]).config["threshold"])
