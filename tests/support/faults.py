"""Fault injection for the reliability suite: fake providers, dropped connections, gates between processes.

Everything here puts a fault at an exact point (a statement, a commit, the n-th delivery), never
after a sleep, so a case does not depend on timing luck.

* ``FakeHttpProvider`` / ``FakeHttpAdapter`` -- an HTTP-like provider (in this process) that
  deduplicates on the idempotency key, with a scripted behaviour per recipient (200, 5xx, 4xx,
  accepted-but-answers-too-late, never answers) and a count of the *real* deliveries.
* ``FileProvider`` -- the same idea across processes (a worker that is SIGKILLed, a DAG run in
  another process): dedupe with ``link()`` (atomic), a journal of real deliveries, and a hook that
  signals "delivered" then blocks, so a test can kill or hold the process at that moment.
* ``DropConnection`` -- terminates the PostgreSQL backend of the connection that is about to run
  (or has just run) a chosen statement, or is about to COMMIT.
* ``Counter`` -- process-wide figures for docs/reliability.md (faults injected, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import Counter as _Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event

from include.campaigns.channels import DeliveryResult, OutboundMessage, ProviderError, ResilientDelivery


class FaultCounter:
    """Figures of one test session (in-process faults count themselves; tests add the rest)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: _Counter[str] = _Counter()

    def add(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.values[what] += n


FAULTS = FaultCounter()

# The executor's claim (engine/sql/claim_chunk.sql), the one statement that locks with SKIP LOCKED: where the
# fault tests pause a campaign, drop a connection or restart the server around a claim.
CLAIM_STATEMENT = r"FOR UPDATE SKIP LOCKED"


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(interval)


# -- an HTTP-like provider, in process -----------------------------------------------------------

@dataclass
class _Request:
    key: str
    recipient: str
    behaviour: str
    at: float


class FakeHttpProvider:
    """The provider's side. Behaviours (per request, scripted per recipient; the last one repeats):

    ``ok``        deliver (once per key) and answer 200 at once
    ``503``       answer 503 Service Unavailable without delivering (transient)
    ``429``       answer 429 Too Many Requests without delivering (transient)
    ``400:why``   refuse permanently (not delivered), with the provider's reason
    ``slow``      deliver, then answer 200 only after ``slow_seconds`` (past the client's timeout)
    ``reset``     deliver, then drop the connection before answering (the client sees a reset)
    ``hang``      deliver (once), and never answer in time -- on every request, repeated ones too

    A key seen before is answered from memory (deduplicated): 200 with the first reference,
    without delivering again -- what real providers do with an idempotency key.
    """

    lock = threading.Lock()
    script: dict[str, list[str]] = {}
    answers: dict[str, DeliveryResult] = {}
    deliveries: list[OutboundMessage] = []
    requests: list[_Request] = []
    slow_seconds = 1.0
    faults = 0

    @classmethod
    def reset(cls, script: dict[str, list[str]] | None = None, slow_seconds: float = 1.0) -> None:
        with cls.lock:
            cls.script = {k: list(v) for k, v in (script or {}).items()}
            cls.answers, cls.deliveries, cls.requests = {}, [], []
            cls.slow_seconds, cls.faults = slow_seconds, 0

    @classmethod
    def delivered_per_step(cls) -> _Counter:
        return _Counter((m.campaign_id, m.lead_id, m.step_number) for m in cls.deliveries)

    @classmethod
    def post(cls, message: OutboundMessage, client_timeout: float) -> DeliveryResult:
        """One HTTP request as the client sees it (raises TimeoutError / ConnectionResetError)."""
        key = message.idempotency_key
        with cls.lock:
            plan = cls.script.get(message.recipient, ["ok"])
            behaviour = plan.pop(0) if len(plan) > 1 else plan[0]
            cls.requests.append(_Request(key, message.recipient, behaviour, time.monotonic()))
            if behaviour == "hang":
                cls.faults += 1
                FAULTS.add("provider_timeouts")
                if key not in cls.answers:
                    cls.deliveries.append(message)
                    cls.answers[key] = DeliveryResult(key, True, f"http-{hashlib.sha1(key.encode()).hexdigest()[:10]}")
        if behaviour == "hang":
            time.sleep(client_timeout)
            raise TimeoutError(f"read timed out after {client_timeout:g} s")
        with cls.lock:
            if key in cls.answers:  # deduplicated: the first answer, nothing sent again
                return cls.answers[key]
            if behaviour in ("503", "429"):
                cls.faults += 1
                FAULTS.add("provider_transient_answers")
                return DeliveryResult(key, False, error=f"HTTP {behaviour} "
                                      f"{'Service Unavailable' if behaviour == '503' else 'Too Many Requests'}",
                                      retryable=True)
            if behaviour.startswith("400"):
                cls.faults += 1
                FAULTS.add("provider_permanent_refusals")
                return DeliveryResult(key, False, error=f"HTTP 400 {behaviour.partition(':')[2] or 'Bad Request'}")
            # ok / slow / reset: the message goes out now, exactly once
            cls.deliveries.append(message)
            answer = DeliveryResult(key, True, f"http-{hashlib.sha1(key.encode()).hexdigest()[:10]}")
            cls.answers[key] = answer
        if behaviour == "slow":
            cls.faults += 1
            FAULTS.add("provider_slow_answers")
            if cls.slow_seconds > client_timeout:
                time.sleep(client_timeout)
                raise TimeoutError(f"read timed out after {client_timeout:g} s")
            time.sleep(cls.slow_seconds)
        if behaviour == "reset":
            cls.faults += 1
            FAULTS.add("provider_connection_resets")
            raise ConnectionResetError("connection reset by peer")
        return answer


class FakeHttpAdapter(ResilientDelivery):
    """The client side, loaded from a channel connection like a real adapter. One request per
    message with a client timeout (``extra.request_timeout_seconds``); a request that times out or
    is reset becomes a retryable result, and the base class retries it with the same key."""

    idempotent = True

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel
        extra = (settings or {}).get("extra") or {}
        self.request_timeout = float(extra.get("request_timeout_seconds", 0.2))

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        out = []
        for m in messages:
            try:
                out.append(FakeHttpProvider.post(m, self.request_timeout))
            except (TimeoutError, ConnectionError) as exc:  # the request was written: it may have gone out
                out.append(DeliveryResult(m.idempotency_key, False, error=f"{type(exc).__name__}: {exc}",
                                          retryable=True, maybe_sent=True))
        return out


class HangingAdapter(ResilientDelivery):
    """A client that ignores timeouts: the call hangs (it delivers first) until ``release`` is set.
    Only the policy's per-call timeout gets the executor out."""

    idempotent = True
    release = threading.Event()
    calls = 0

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        type(self).calls += 1
        results = [FakeHttpProvider.post(m, 60.0) for m in messages]
        FAULTS.add("provider_hangs")
        self.release.wait(30)
        return results


class NonIdempotentAdapter(FakeHttpAdapter):
    """The same provider, declared unable to deduplicate: a call that may have gone out is never repeated."""

    idempotent = False


class BatchErrorAdapter(ResilientDelivery):
    """Raises a ProviderError for the whole batch according to a script of HTTP statuses, then delivers."""

    statuses: list[int] = []
    calls = 0

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        type(self).calls += 1
        if self.statuses:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            if status != 200:
                FAULTS.add("provider_batch_errors")
                raise ProviderError(f"HTTP {status} from the provider", status=status, sent=False)
        return [FakeHttpProvider.post(m, 60.0) for m in messages]


# -- a provider other processes can reach: files -------------------------------------------------

class FileProvider(ResilientDelivery):
    """Dedupes on the idempotency key across processes (``os.link`` of the answer is the atomic
    "accept"), journals each real delivery in ``deliveries.jsonl`` and each request in
    ``requests.jsonl``. Directory: the extra ``dir`` of the channel connection, else ``$REL_PROVIDER_DIR``.

    Fault hook (environment of the process): after its ``REL_BLOCK_AFTER``-th real delivery the
    process creates the file ``REL_BLOCK_MARKER`` and then waits for ``REL_BLOCK_RELEASE`` to
    exist (or 120 s when none is named) -- the moment a test kills or holds it.
    """

    idempotent = True
    _delivered_here = 0
    _lock = threading.Lock()

    def __init__(self, channel: str, settings: dict | None = None, engine=None) -> None:
        self.channel = channel
        extra = (settings or {}).get("extra") or {}
        self.root = Path(extra.get("dir") or os.environ["REL_PROVIDER_DIR"])
        (self.root / "keys").mkdir(parents=True, exist_ok=True)

    def _append(self, name: str, record: dict) -> None:
        line = (json.dumps(record) + "\n").encode()
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)  # one write on O_APPEND: lines from several processes never interleave
        finally:
            os.close(fd)

    def deliver_once(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        return [self._post(m) for m in messages]

    def _post(self, m: OutboundMessage) -> DeliveryResult:
        key = m.idempotency_key
        digest = hashlib.sha1(key.encode()).hexdigest()
        answer_path = self.root / "keys" / digest
        self._append("requests.jsonl", {"key": key, "pid": os.getpid()})
        ref = f"file-{digest[:10]}"
        tmp = self.root / "keys" / f".{digest}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(ref)
        try:
            os.link(tmp, answer_path)  # atomic: exactly one request per key gets to deliver
        except FileExistsError:
            return DeliveryResult(key, True, answer_path.read_text())
        finally:
            tmp.unlink(missing_ok=True)
        self._append("deliveries.jsonl", {"key": key, "campaign_id": m.campaign_id, "lead_id": m.lead_id,
                                          "step_number": m.step_number, "channel": m.channel,
                                          "recipient": m.recipient, "pid": os.getpid()})
        with self._lock:
            type(self)._delivered_here += 1
            count = type(self)._delivered_here
        block_after = os.environ.get("REL_BLOCK_AFTER")
        if block_after and count == int(block_after):
            Path(os.environ["REL_BLOCK_MARKER"]).touch()
            release = os.environ.get("REL_BLOCK_RELEASE")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not (release and Path(release).exists()):
                time.sleep(0.02)
        return DeliveryResult(key, True, ref)


def file_deliveries(root: Path) -> list[dict]:
    path = Path(root) / "deliveries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def file_requests(root: Path) -> list[dict]:
    path = Path(root) / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def channel_connections(adapter: str, **extra: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_CHANNEL_*`` values that make every channel use ``adapter`` (``module:Class``)."""
    value = json.dumps({"conn_type": "generic", "extra": {"adapter": adapter, **extra}})
    return {f"AIRFLOW_CONN_CHANNEL_{ch.upper()}": value for ch in ("whatsapp", "sms", "email", "voice")}


# -- dropped database connections ----------------------------------------------------------------

@dataclass
class DropPoint:
    """Where to cut: ``sql`` = a regex on the statement text, or ``"COMMIT"`` for the commit of a
    transaction; ``when`` = before the statement runs or after it ran (the connection dies with
    the transaction open); ``times`` = how many matching executions to cut."""

    sql: str
    when: str = "before"
    times: int = 1
    armed_by: str | None = None  # COMMIT only: the commit of a transaction that ran a statement matching this
    fired: int = 0
    label: str = ""
    pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.armed_by if self.sql == "COMMIT" and self.armed_by else self.sql, re.S)
        self.label = self.label or (f"COMMIT after {self.armed_by}" if self.sql == "COMMIT" else f"{self.when} {self.sql}")


class DropConnection:
    """Terminates (``pg_terminate_backend``) the backend of the connection that reaches a drop point.

    ``admin_uri`` is a libpq URI of the same server; the termination waits until the backend is
    gone, so the statement that follows fails for certain.
    """

    def __init__(self, engine: Engine, admin_uri: str, points: Iterable[DropPoint]) -> None:
        self.engine = engine
        self.admin_uri = admin_uri
        self.points = list(points)
        self.log: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> DropConnection:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "rollback", self._rollback)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "rollback", self._rollback)

    @property
    def fired(self) -> int:
        return sum(p.fired for p in self.points)

    def _take(self, text: str, when: str, armed: set[int] = frozenset()) -> DropPoint | None:
        with self._lock:
            for i, p in enumerate(self.points):
                if p.fired >= p.times:
                    continue
                if when == "commit":
                    hit = p.sql == "COMMIT" and (p.armed_by is None or i in armed)
                else:
                    hit = p.sql != "COMMIT" and p.when == when and bool(p.pattern.search(text))
                if hit:
                    p.fired += 1
                    return p
        return None

    def _arm(self, conn, statement: str) -> None:
        for i, p in enumerate(self.points):
            if p.sql == "COMMIT" and p.armed_by and p.fired < p.times and p.pattern.search(statement):
                conn.info.setdefault("rel_commit_armed", set()).add(i)

    def _rollback(self, conn) -> None:
        conn.info.pop("rel_commit_armed", None)

    def _kill(self, pid: int, point: DropPoint) -> None:
        with psycopg.connect(self.admin_uri, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        self.log.append(point.label)
        FAULTS.add("db_connections_dropped")

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self._arm(conn, statement)
        point = self._take(statement, "before")
        if point:
            self._kill(cursor.connection.info.backend_pid, point)

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        point = self._take(statement, "after")
        if point:
            self._kill(cursor.connection.info.backend_pid, point)

    def _commit(self, conn) -> None:
        point = self._take("COMMIT", "commit", conn.info.pop("rel_commit_armed", set()))
        if point:
            self._kill(conn.connection.dbapi_connection.info.backend_pid, point)


class OnStatement:
    """Runs ``action()`` when a statement matching ``sql`` is about to run (``before``) or has run
    (``after``) on ``engine`` -- at most ``times`` times. For faults that are not a dropped connection:
    an admin pausing a campaign or appending a step at an exact moment of a run."""

    def __init__(self, engine: Engine, sql: str, action: Callable[[], None], when: str = "after", times: int = 1):
        self.engine, self.pattern, self.action, self.when, self.left = engine, re.compile(sql, re.S), action, when, times
        self.fired = 0

    def _hook(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.left > 0 and self.pattern.search(statement):
            self.left -= 1
            self.fired += 1
            self.action()

    def __enter__(self) -> OnStatement:
        event.listen(self.engine, f"{self.when}_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, f"{self.when}_cursor_execute", self._hook)
