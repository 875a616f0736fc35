"""The README's "For analysts" block, taken from README.md and run verbatim through bash on the test database
(``AIRFLOW_CONN_CAMPAIGNS_DB``) after demo data and one engine sweep: the grant prints how to connect, the
analyst's psql reads the views, the login is listed and then gone."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from sqlalchemy import text

from bench.driver import run_stages, sequential
from include.campaigns.devtools.demo import generate_demo
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.infra import analysts
from include.campaigns.infra.paths import PROJECT_ROOT
from tests.factories import T0
from tests.support.readme import readme_block

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ANALYST = "ana_lopez"  # the README's name; roles are cluster-wide, so the block's own revoke cleans up


def test_the_for_analysts_block_runs_verbatim(engine):
    block = readme_block("## For analysts")
    assert f"analysts grant {ANALYST}" in block and f"analysts revoke {ANALYST}" in block
    generate_demo(engine, leads=400, reference_time=T0)
    run_stages(engine, RunContext(f"scheduled__{T0.isoformat()}", T0), EngineSettings(), sequential(engine))
    env = {**os.environ, "AIRFLOW_CONN_CAMPAIGNS_DB": os.environ["AIRFLOW_CONN_CAMPAIGNS_DB"]}
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], env=env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=240)
    finally:
        analysts.revoke(engine, ANALYST)
    out = done.stdout
    assert done.returncode == 0, f"{out[-3000:]}\n{done.stderr[-3000:]}"
    assert re.search(rf'connect:  psql "postgresql://{ANALYST}@', out) and re.search(r"^password: \S{20,}$", out, re.M)
    with engine.connect() as conn:
        first_days = conn.execute(text("SELECT campaign_id, day, sent, failed, skipped FROM campaign_daily_stats "
                                       "ORDER BY campaign_id, day LIMIT 5")).all()
    assert first_days, "the sweep wrote no logs"
    for row in first_days:  # what the analyst's psql printed is the view's first rows
        assert re.search(r"\s+\|\s+".join(str(v) for v in row), out), (row, out[:2000])
    assert re.search(r"enrolled \| goal_reached \| replied", out)  # campaign_conversions, read as the analyst
    assert re.search(rf"^{ANALYST}$", out, re.M)  # analysts list
    assert f"analyst {ANALYST} revoked" in out
