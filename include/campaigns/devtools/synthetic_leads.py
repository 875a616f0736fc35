"""Synthetic leads, column by column: numpy draws for a range of ids, the deliberate malformations, and the
COPY text of the rows (and of the snapshot a previous sweep would have left).

The mix: a sales funnel of roles (``FUNNEL``), each shown in the broker's own word, score centred per role;
85 % with e-mail (1 % of those at a bouncing ``.invalid`` domain), 90 % with phone (2 % sandbox-unreachable
``+1500555…``), 90 % with an agent of the broker, 3 % do_not_contact, activity up to 60 days before the
previous sweep (5 % never active), the broker's time zone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from sqlalchemy import Connection

from include.campaigns.devtools.synthetic_catalogue import (
    BOUNCING_DOMAIN, FIRST_NAMES, FOREIGN_STAGES, FUNNEL, LAST_NAMES, MAIL_DOMAINS, PREVIOUS_ROLES, ROLES,
    SCORE_MEAN, UNKNOWN_TIME_ZONES, UNREACHABLE_PREFIX,
)

if TYPE_CHECKING:
    from include.campaigns.devtools.synthetic import Shape, World

NULL = "\\N"
LEAD_COLUMNS = ("id", "broker_id", "full_name", "email", "phone", "stage", "score", "last_activity_at",
                "assigned_agent_id", "do_not_contact", "timezone", "updated_at")
SNAPSHOT_COLUMNS = ("lead_id", "broker_id", "stage", "score", "last_activity_at", "updated_at", "email", "phone",
                    "timezone", "valid_stage", "rejected", "captured_at", "run_id")
# What a malformed lead breaks; each is one reason validation gives (stage: unknown_stage where the broker
# has a pipeline, stage_missing -- an empty or blank stage -- where it has none).
MALFORMED_KINDS = ("score_high", "score_negative", "score_missing", "stage_outside_pipeline", "bad_email",
                   "bad_phone", "future_activity", "unknown_timezone")
_ROLE_P = np.array(FUNNEL, dtype=float) / sum(FUNNEL)
_SCORE_MEAN = np.array(SCORE_MEAN, dtype=float)
_STAGE_MOVED = 0.07  # share of the snapshot's leads that were one role earlier then


@dataclass(frozen=True)
class InvalidRule:
    """Which leads are malformed on purpose: ``(id * MULT) % MOD < cut``. A pure function of the id, so
    set-based SQL can leave them out (``SQL`` with ``sql_params()``); any MOD consecutive ids hold exactly
    ``cut`` of them, and the kind is the hash modulo the number of kinds (every kind at any share)."""

    share: float
    MULT: ClassVar[int] = 7919  # coprime with MOD: the hash walks every residue
    MOD: ClassVar[int] = 10_000
    SQL: ClassVar[str] = "(id * :invalid_mult) % :invalid_mod < :invalid_cut"

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise ValueError("invalid_share must be between 0 and 1")

    @property
    def cut(self) -> int:
        return round(self.share * self.MOD)

    def _hash(self, ids: np.ndarray) -> np.ndarray:
        return (np.asarray(ids, dtype=np.int64) * self.MULT) % self.MOD

    def mask(self, ids: np.ndarray) -> np.ndarray:
        return self._hash(ids) < self.cut

    def kind(self, lead_id: int) -> str | None:
        h = int(self._hash(np.array([lead_id]))[0])
        return MALFORMED_KINDS[h % len(MALFORMED_KINDS)] if h < self.cut else None

    def kinds(self, ids: np.ndarray) -> np.ndarray:
        return self._hash(ids) % len(MALFORMED_KINDS)

    def sql_params(self) -> dict[str, int]:
        return {"invalid_mult": self.MULT, "invalid_mod": self.MOD, "invalid_cut": self.cut}


def ascii_lower(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


_FIRST, _LAST = np.array(FIRST_NAMES, dtype=object), np.array(LAST_NAMES, dtype=object)
_FIRST_ASCII = np.array([ascii_lower(n) for n in FIRST_NAMES], dtype=object)
_LAST_ASCII = np.array([ascii_lower(n) for n in LAST_NAMES], dtype=object)


def _iso(seconds: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s",
                                 timezone="UTC").astype(object)


def _digits(values: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Zero-padded decimal strings of per-row width."""
    return np.strings.slice((10 ** width + values % 10 ** width).astype(str), 1, None).astype(object)


@dataclass
class LeadChunk:
    """One range of leads as columns (object arrays; None = null), plus what a previous sweep saw."""

    columns: dict[str, np.ndarray]
    seen: np.ndarray  # bool: in the previous snapshot
    prev_stage: np.ndarray

    def leads_text(self) -> str:
        return columns_text([self.columns[c] for c in LEAD_COLUMNS])

    def snapshot_text(self, captured_at: datetime, run_id: str) -> str:
        c, m = self.columns, self.seen
        n = int(m.sum())
        return columns_text([c["id"][m], c["broker_id"][m], self.prev_stage[m], c["score"][m],
                             c["last_activity_at"][m], c["updated_at"][m], c["email"][m], c["phone"][m],
                             c["timezone"][m], self.prev_stage[m], np.full(n, "f", dtype=object),
                             np.full(n, captured_at.isoformat(), dtype=object), np.full(n, run_id, dtype=object)])


def draw(shape: Shape, world: World, words: np.ndarray, first_id: int, start: int, stop: int,
         rng: np.random.Generator) -> LeadChunk:
    """Leads ``first_id + start + 1 .. first_id + stop``, round-robin over the brokers (one draw per column)."""
    n = stop - start
    pos = np.arange(start, stop) % len(world.broker_ids)
    ids = first_id + np.arange(start + 1, stop + 1, dtype=np.int64)
    role = rng.choice(len(ROLES), size=n, p=_ROLE_P)
    score = np.clip(np.rint(rng.normal(_SCORE_MEAN[role], 15.0)), 0, 100).astype(np.int64)
    t0 = int(shape.reference_time.timestamp())
    never = rng.random(n) < 0.05
    last = t0 - 3600 - (60 * 86400 * rng.random(n) ** 2).astype(np.int64)  # before the previous sweep
    updated = np.where(never, t0 - 86400 * (1 + rng.integers(0, 90, n)), last)
    has_email, bounce = rng.random(n) < 0.85, rng.random(n) < 0.01
    has_phone, unreachable = rng.random(n) < 0.90, rng.random(n) < 0.02
    number = rng.integers(0, 10 ** 9, n)
    has_agent, agent = rng.random(n) < 0.90, rng.integers(0, world.agents_per_broker, n)
    dnc = rng.random(n) < 0.03
    first, last_name, last2 = (rng.integers(0, len(FIRST_NAMES), n), rng.integers(0, len(LAST_NAMES), n),
                               rng.integers(0, len(LAST_NAMES), n))
    domain = rng.integers(0, len(MAIL_DOMAINS), n)
    seen, moved, pick = rng.random(n) < shape.snapshot_share, rng.random(n) < _STAGE_MOVED, rng.integers(0, 6, n)

    brokers = np.array(world.broker_ids, dtype=np.int64)[pos]
    profiles = world.profiles
    fa, la = _FIRST_ASCII[first], _LAST_ASCII[last_name]
    domains = np.where(bounce, BOUNCING_DOMAIN, np.array(MAIL_DOMAINS, dtype=object)[domain])
    email = np.where(has_email, fa + "." + la + ids.astype(str).astype(object) + "@" + domains, None)
    width = np.array([p.subscriber_digits for p in profiles])[pos]
    phone = np.array([p.phone_prefix for p in profiles], dtype=object)[pos] + _digits(number, width)
    phone = np.where(unreachable, UNREACHABLE_PREFIX + _digits(number, np.full(n, 4)), phone)
    phone = np.where(has_phone, phone, None)
    stage = words[pos, role]
    tz = np.array([p.timezone for p in profiles], dtype=object)[pos]
    score_s = score.astype(str).astype(object)
    last_s, updated_s = np.where(never, None, _iso(last)), _iso(updated)

    bad = shape.invalid.mask(ids)
    kind = np.where(bad, shape.invalid.kinds(ids), -1)
    K = {k: kind == i for i, k in enumerate(MALFORMED_KINDS)}
    score_s = np.where(K["score_high"], "150", np.where(K["score_negative"], "-5", score_s))
    score_s = np.where(K["score_missing"], None, score_s)
    stored = np.array([v.stored for v in world.vocabularies])[pos]
    outside = np.where(stored, np.array(FOREIGN_STAGES, dtype=object)[ids % len(FOREIGN_STAGES)],
                       np.where(ids % 2 == 0, "", "   "))
    stage = np.where(K["stage_outside_pipeline"], outside, stage)
    email = np.where(K["bad_email"], fa + "." + la + ".sin-arroba." + MAIL_DOMAINS[0], email)
    phone = np.where(K["bad_phone"], "12ab", phone)
    future = _iso(t0 + 86400 * (3 + ids % 30))
    last_s = np.where(K["future_activity"], future, last_s)
    updated_s = np.where(K["future_activity"], future, updated_s)
    tz = np.where(K["unknown_timezone"], np.array(UNKNOWN_TIME_ZONES, dtype=object)[ids % 3], tz)

    prev_role = role.copy()
    for r, options in PREVIOUS_ROLES.items():
        here = moved & (role == ROLES.index(r))
        prev_role[here] = np.array([ROLES.index(o) for o in options])[pick[here] % len(options)]
    columns = {
        "id": ids.astype(str).astype(object), "broker_id": brokers.astype(str).astype(object),
        "full_name": _FIRST[first] + " " + _LAST[last_name] + " " + _LAST[last2], "email": email, "phone": phone,
        "stage": stage, "score": score_s, "last_activity_at": last_s,
        "assigned_agent_id": np.where(has_agent, (np.array(world.first_agent)[pos] + agent).astype(str), None),
        "do_not_contact": np.where(dnc, "t", "f").astype(object), "timezone": tz, "updated_at": updated_s,
    }
    return LeadChunk(columns, seen & ~bad, words[pos, prev_role])


def columns_text(columns: Sequence[np.ndarray]) -> str:
    """COPY text of equal-length columns (None = null). The values carry no tab, newline or backslash."""
    cols = [np.where(np.equal(c, None), NULL, c).tolist() for c in columns]
    return "".join(f"{line}\n" for line in map("\t".join, zip(*cols)))


def rows_text(rows: Iterable[Sequence[object]]) -> str:
    return "".join("\t".join(NULL if v is None else str(v) for v in row) + "\n" for row in rows)


def copy_text(conn: Connection, table: str, columns: Sequence[str], payload: str) -> int:
    """COPY a text payload into ``table`` within the connection's transaction; return the rows written."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(payload)
        return cur.rowcount
