"""Stage: execute the due steps of one chunk of enrolments, exactly once.

One transaction per chunk:
1. claim the chunk's enrolments with ``FOR UPDATE SKIP LOCKED`` (a concurrent run skips them; a crashed
   worker's locks vanish with its connection, so a retry can claim again);
2. load the adapters of every channel a due step may use -- a missing or malformed connection fails
   here, before anything is sent or logged;
3. walk each enrolment's chain of due steps in memory (``walker.py``), calling the adapters in batches;
4. write logs + stats, cursors, stage moves and appointments (``writer.py``), and commit.

An engine error in one step sets that enrolment aside (status ERROR, no log); the chunk commits the rest and
reports the errors, and the Airflow task then fails with ``engine_error_message``.

A crash before the commit leaves no trace but the provider's own record, and the provider sees the same
idempotency key again on the retry, so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine

from include.campaigns.channels import ChannelAdapter, load_adapters
from include.campaigns.engine import actions as action_registry
from include.campaigns.engine.actions import Action
from include.campaigns.engine.chunk import load_chunk, lock_agents_and_load_busy
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings
from include.campaigns.engine.walker import ChunkWalker
from include.campaigns.engine.writer import ChunkWriter
from include.campaigns.infra.database import price_key_lookups

AdapterLoader = Callable[[Engine, list[str]], Mapping[str, ChannelAdapter]]


def execute_chunk(engine: Engine, run: RunContext, chunk_no: int, settings: EngineSettings | None = None, *,
                  adapters: AdapterLoader | Mapping[str, ChannelAdapter] | None = None,
                  actions: Mapping[str, Action] | None = None, writer: ChunkWriter | None = None) -> dict[str, Any]:
    """Run every due step of the chunk's enrolments; return counts of what was claimed and written.

    ``adapters``: a mapping channel -> adapter, or a loader ``(engine, channels) -> mapping`` (default: the
    Airflow connections); ``actions``: the action registry; ``writer``: what writes the outcome."""
    settings = settings or EngineSettings()
    writer = writer or ChunkWriter()
    actions = actions or action_registry.REGISTRY
    with engine.begin() as conn:
        price_key_lookups(conn)  # the claim and the cursor update: key probes, not a hash of every enrolment
        data = load_chunk(conn, run, chunk_no, tuple(name for name, a in actions.items() if a.contact))
        walker = ChunkWalker(run, data, actions, settings.meeting_hours)
        needed = walker.channels_needed()
        if adapters is None:
            walker.adapters = load_adapters(engine, needed)
        elif callable(adapters):
            walker.adapters = adapters(engine, needed)
        else:
            walker.adapters = adapters
        walker.busy = lock_agents_and_load_busy(conn, walker.agents_to_lock(), run.run_at)
        outcome = walker.execute()
        written = writer.write(conn, run, data, outcome)
    return {
        "chunk_no": chunk_no,
        "claimed": len(data.enrolments),
        "steps_logged": sum(written.values()),
        **{k.lower(): v for k, v in written.items()},
        "completed": sum(1 for e in data.enrolments if e.status == "COMPLETED"),
        "stopped": sum(1 for e in data.enrolments if e.status == "STOPPED"),
        "deferred_quiet_hours": walker.deferred,
        "engine_errors": [asdict(err) for err in outcome.engine_errors],
    }


def engine_error_message(result: Mapping[str, Any]) -> str | None:
    """What the task reports when the chunk set enrolments aside because of engine errors (None: none did)."""
    errors = result.get("engine_errors") or []
    if not errors:
        return None
    shown = "; ".join(f"campaign {e['campaign_id']} lead {e['lead_id']} step {e['step_number']}: {e['error']}"
                      for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return (f"{len(errors)} enrolment(s) set aside by an engine error -- nothing was logged for them and the rest "
            f"of the chunk was committed: {shown}{more}. After the fix, list them with GET /api/v1/enrolments?"
            "status=ERROR and let them run again with POST /api/v1/campaigns/<id>/enrolments/<lead_id>/retry")
