"""The provider of the cluster cases: ``FileProvider`` (deduplicating, journaled, shared by every worker through
a directory), plus a hold point configured by the channel connection.

Extra of the ``channel_*`` connections: ``{"adapter": "tests.cluster.provider:HoldingProvider", "dir": D,
"hold_after": N}``. The first task process (on any worker) to make its N-th real delivery claims the hold
(``D/held``, created exclusively, holding the name of its Celery worker and its pid) and then waits for
``D/release``: the moment a test kills that worker, in the middle of a chunk, with N messages sent and nothing
committed. Every other process delivers without stopping. The worker's name comes from ``CLUSTER_WORKER``, set
in each worker's environment by the test.

``"meet": true``: each task process, at its first delivery, signs ``D/meet.<worker>`` and waits (at most
``MEET_SECONDS``) until a process of another worker has signed too -- so two chunks overlap and both workers
take part, however fast a chunk is (with one slot each, a worker inside a chunk takes no second one).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.support.faults import FileProvider

HOLD_SECONDS = 240  # a hold nobody releases ends by itself
MEET_SECONDS = 30  # a meeting nobody comes to ends by itself (the test then says which worker ran what)


class HoldingProvider(FileProvider):
    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        super().__init__(channel, settings, engine)
        extra = (settings or {}).get("extra") or {}
        self.hold_after = int(extra.get("hold_after") or 0)
        self.meet = bool(extra.get("meet"))

    def _post(self, m):
        if self.meet and not type(self)._met:
            self._meet_another_worker()
        result = super()._post(m)
        if self.hold_after and type(self)._delivered_here == self.hold_after and self._claim_hold():
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline and not (self.root / "release").exists():
                time.sleep(0.05)
        return result

    _met = False  # per task process: its first delivery has met a process of another worker

    def _meet_another_worker(self) -> None:
        me = os.environ.get("CLUSTER_WORKER") or "?"
        (self.root / f"meet.{me}").touch()
        deadline = time.monotonic() + MEET_SECONDS
        while time.monotonic() < deadline and not any(p.name != f"meet.{me}" for p in self.root.glob("meet.*")):
            time.sleep(0.05)
        type(self)._met = True

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
