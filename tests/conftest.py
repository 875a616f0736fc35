"""Shared fixtures: a real PostgreSQL for every test that needs one.

``AIRFLOW_CONN_CAMPAIGNS_DB`` set = use that server (CI can point at 127.0.0.1:5432).
Unset = the project's embedded PostgreSQL, database ``$CAMPAIGNS_TEST_DB`` (default
``campaigns_test``), so tests never touch the demo database.
"""

from __future__ import annotations

import os

import pytest

from include.campaigns.infra.paths import apply_airflow_env_defaults

apply_airflow_env_defaults()



@pytest.fixture(scope="session")
def database_url():
    """The test database URL; an embedded server this session started is stopped cleanly at the end."""
    from include.campaigns.infra import embedded
    from include.campaigns.infra.database import ENV_CONN, sqlalchemy_url
    from include.campaigns.infra.database import get_engine
    from include.campaigns.infra.migrations import upgrade

    started_here = False
    if not os.environ.get(ENV_CONN):
        started_here = not embedded.is_running()
        os.environ[ENV_CONN] = embedded.ensure_running(os.environ.get("CAMPAIGNS_TEST_DB", "campaigns_test"))
    url = sqlalchemy_url(os.environ[ENV_CONN])
    upgrade(get_engine(url))
    yield url
    get_engine(url).dispose()
    if started_here and not os.environ.get("CAMPAIGNS_KEEP_DB"):
        embedded.stop()


@pytest.fixture
def engine(database_url: str):
    """An engine on a campaign database emptied before the test."""
    from include.campaigns.infra.database import get_engine
    from include.campaigns.infra.migrations import truncate_all

    eng = get_engine(database_url)
    truncate_all(eng)
    return eng
