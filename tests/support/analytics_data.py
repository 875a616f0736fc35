"""Data for the analytics tests that was not shaped for them, and the figures worked out from it in Python.

The demo generator's six brokers (own pipelines in Spanish, Portuguese, English, free text, one without),
with one broker moved to Pacific/Auckland so the zones run from UTC-8 to UTC+13, then the real engine's sweeps
over three days at hours that fall on different local dates per broker (23:00 UTC is the next day in Madrid
and Auckland, the same day in the Americas). The expected figures are computed here from the raw log rows with
``zoneinfo``, independently of the SQL under test.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from bench.driver import run_stages, sequential
from include.campaigns.api.services.replies import Inbound, handle_inbound
from include.campaigns.channels.twilio_settings import TwilioSettings
from include.campaigns.devtools.demo import generate_demo
from include.campaigns.engine.run import RunContext
from include.campaigns.engine.settings import EngineSettings

START = datetime(2026, 11, 24, 23, tzinfo=timezone.utc)
SWEEPS = tuple(START + timedelta(hours=h) for h in (0, 12, 24, 37, 49, 72))
BROKERS = 6
AUCKLAND_BROKER = 6  # Buenos Aires' broker, moved to the other side of the date line


REPLY_AFTER_SWEEP = 2  # replies come in after the third sweep
REPLIES = 12  # leads with an active SMS enrolment that answer (every third one: "BAJA", an opt-out)
TWILIO_SMS = {"login": "AC" + "0" * 32, "password": "token", "extra": {"from": "+15005550006"}}


def build(engine: Engine, leads: int = 1200) -> None:
    """Generate the data set and run the engine's sweeps over it (replaces everything in the database), with
    a few leads' SMS replies handled as the inbound webhook handles them."""
    generate_demo(engine, leads=leads, brokers=BROKERS, reference_time=START)
    with engine.begin() as conn:
        conn.execute(text("UPDATE brokers SET timezone = 'Pacific/Auckland' WHERE id = :b"), {"b": AUCKLAND_BROKER})
    for n, at in enumerate(SWEEPS):
        run_stages(engine, RunContext(f"scheduled__{at.isoformat()}", at), EngineSettings(), sequential(engine))
        if n == REPLY_AFTER_SWEEP:
            reply(engine, at + timedelta(minutes=30))
            win(engine, at + timedelta(minutes=40))


def win(engine: Engine, at: datetime, per_campaign: int = 5) -> None:
    """The CRM moves a few leads of each campaign with a goal into its (first) goal stage."""
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE leads l SET stage = w.stage, updated_at = :at FROM ("
            "  SELECT e.lead_id, c.goal->'stages'->>0 AS stage, row_number() OVER (PARTITION BY c.id ORDER BY e.lead_id) AS k"
            "  FROM campaign_enrolments e JOIN campaigns c ON c.id = e.campaign_id"
            "  WHERE c.goal IS NOT NULL AND e.status = 'ACTIVE') w "
            "WHERE l.id = w.lead_id AND w.k <= :n"), {"at": at, "n": per_campaign})


def reply(engine: Engine, at: datetime) -> None:
    cfg = TwilioSettings.parse("sms", TWILIO_SMS)
    with engine.begin() as conn:
        phones = conn.execute(text(
            "SELECT DISTINCT l.id, l.phone FROM leads l JOIN campaign_enrolments e ON e.lead_id = l.id "
            "JOIN campaigns c ON c.id = e.campaign_id WHERE e.status = 'ACTIVE' AND c.channel = 'sms' "
            "AND l.phone IS NOT NULL ORDER BY l.id LIMIT :n"), {"n": REPLIES}).all()
        for k, (lead_id, phone) in enumerate(phones):
            body = "BAJA" if k % 3 == 2 else "Sí, me interesa, llámenme"
            handle_inbound(conn, [cfg], Inbound(f"SM{lead_id:032d}", phone, cfg.sender, body, "sms"), at)


@dataclass(frozen=True)
class Log:
    campaign_id: int
    step_number: int | None
    action: str | None
    status: str
    reason: str | None
    executed_at: datetime
    timezone: str

    @property
    def day(self) -> date:
        return self.executed_at.astimezone(ZoneInfo(self.timezone)).date()


def logs(engine: Engine) -> list[Log]:
    with engine.connect() as conn:
        return [Log(*r) for r in conn.execute(text(
            "SELECT l.campaign_id, l.step_number, l.action, l.status, l.reason, l.executed_at, b.timezone "
            "FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id JOIN brokers b ON b.id = c.broker_id"))]


def in_period(log: Log, first: date | None, last: date | None) -> bool:
    return (first is None or log.day >= first) and (last is None or log.day <= last)


def by_status(rows: list[Log]) -> dict[str, int]:
    n = Counter(r.status for r in rows)
    return {"sent": n["SENT"], "failed": n["FAILED"], "skipped": n["SKIPPED"]}


def expected_daily(all_logs: list[Log], campaign_id: int, first: date | None = None,
                   last: date | None = None) -> list[dict[str, Any]]:
    """Every day of the period (or of the campaign's logs), zeros included."""
    mine = [r for r in all_logs if r.campaign_id == campaign_id and in_period(r, first, last)]
    days: dict[date, list[Log]] = defaultdict(list)
    for r in mine:
        days[r.day].append(r)
    if not days and (first is None or last is None):
        return []
    day, end = first or min(days), last or max(days)
    out = []
    while day <= end:
        out.append({"day": day.isoformat(), **by_status(days.get(day, []))})
        day += timedelta(days=1)
    return out


def expected_funnel(all_logs: list[Log], campaign_id: int, first: date | None = None,
                    last: date | None = None) -> dict[int, dict[str, int]]:
    steps: dict[int, list[Log]] = defaultdict(list)
    for r in all_logs:
        if r.campaign_id == campaign_id and r.step_number is not None and in_period(r, first, last):
            steps[r.step_number].append(r)
    return {n: by_status(rows) for n, rows in steps.items()}


def expected_reasons(all_logs: list[Log], campaign_id: int, first: date | None = None,
                     last: date | None = None) -> Counter:
    return Counter((r.step_number, r.status, r.reason) for r in all_logs
                   if r.campaign_id == campaign_id and r.status != "SENT" and in_period(r, first, last))


def expected_totals(all_logs: list[Log], campaign_id: int, first: date | None = None,
                    last: date | None = None) -> dict[str, int]:
    return by_status([r for r in all_logs if r.campaign_id == campaign_id and in_period(r, first, last)])
