"""The provider of the cluster cases: ``FileProvider`` (deduplicating, journaled, shared by every worker through
a directory), plus a hold point configured by the channel connection.

Extra of the ``channel_*`` connections: ``{"adapter": "tests.cluster.provider:HoldingProvider", "dir": D,
"hold_after": N}``. The first task process (on any worker) to make its N-th real delivery claims the hold
(``D/held``, created exclusively, holding the name of its Celery worker and its pid) and then waits for
``D/release``: the moment a test kills that worker, in the middle of a chunk, with N messages sent and nothing
committed. Every other process delivers without stopping. The worker's name comes from ``CLUSTER_WORKER``, set
in each worker's environment by the test.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.support.faults import FileProvider

HOLD_SECONDS = 240  # a hold nobody releases ends by itself


class HoldingProvider(FileProvider):
    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        super().__init__(channel, settings, engine)
        self.hold_after = int(((settings or {}).get("extra") or {}).get("hold_after") or 0)

    def _post(self, m):
        result = super()._post(m)
        if self.hold_after and type(self)._delivered_here == self.hold_after and self._claim_hold():
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline and not (self.root / "release").exists():
                time.sleep(0.05)
        return result

    def _claim_hold(self) -> bool:
        try:
            os.close(os.open(self.root / "hold.claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return False  # another process holds (or held) already
        tmp = self.root / f"held.{os.getpid()}"
        tmp.write_text(json.dumps({"worker": os.environ.get("CLUSTER_WORKER"), "pid": os.getpid()}))
        tmp.rename(self.root / "held")  # the test reads a complete file or none
        return True


def held(root: Path) -> dict | None:
    path = Path(root) / "held"
    return json.loads(path.read_text()) if path.exists() else None
