"""A worker process for the reliability suite: runs what the ``execute_chunk`` task runs.

``python -m tests.reliability.worker '{"run": {...}, "chunks": [0], "block_at": "commit", "marker": "/tmp/x"}'``

The database, channel adapters and faults come from the environment, as in an Airflow worker
(``AIRFLOW_CONN_CAMPAIGNS_DB``, ``AIRFLOW_CONN_CHANNEL_*``, ``REL_*`` for ``FileProvider``).
``block_at`` holds the process at an exact point, after creating ``marker``, until it is killed:

* ``commit``        -- the chunk's transaction is about to COMMIT (everything sent and written);
* ``after_commit``  -- the chunk committed, the task has not reported success yet.

Blocking inside the provider (after the n-th delivery) is ``FileProvider``'s ``REL_BLOCK_AFTER``.
Prints the result of each chunk as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _hold(marker: str) -> None:
    Path(marker).touch()
    deadline = time.monotonic() + 120  # never outlive a test that forgot us
    while time.monotonic() < deadline:
        time.sleep(0.05)
    sys.exit(3)


def main() -> None:
    spec = json.loads(sys.argv[1])
    from sqlalchemy import event

    from include.campaigns.infra.database import get_engine
    from include.campaigns.engine.execute import execute_chunk
    from include.campaigns.engine.run import RunContext

    engine = get_engine()
    if spec.get("block_at") == "commit":
        @event.listens_for(engine, "commit")
        def _at_commit(conn):  # noqa: ARG001
            _hold(spec["marker"])

    run = RunContext.from_dict(spec["run"])
    for chunk in spec["chunks"]:
        result = execute_chunk(engine, run, chunk)
        print(json.dumps(result), flush=True)
    if spec.get("block_at") == "after_commit":
        _hold(spec["marker"])


if __name__ == "__main__":
    main()
