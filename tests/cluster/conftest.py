"""One CeleryExecutor cluster for the cases of this folder (``cluster.py``), started once and always stopped.

Skipped, with the reason, only when PostgreSQL or Redis on 127.0.0.1 do not answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.cluster.cluster import Cluster, unreachable


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = unreachable()
    if reason:
        pytest.skip(f"the CeleryExecutor cluster needs PostgreSQL and Redis on 127.0.0.1: {reason}")
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def cluster_db(cluster: Cluster) -> Iterator[Engine]:
    """The campaign database of the cluster (its own database on 127.0.0.1:5432), schema applied."""
    from include.campaigns.infra.database import get_engine, sqlalchemy_url
    from include.campaigns.infra.migrations import upgrade

    engine = get_engine(sqlalchemy_url(cluster.data_url))
    upgrade(engine)
    yield engine
    engine.dispose()
