"""How fast the Campaigns page answers at the 1M-lead benchmark's scale, without running that benchmark.

``python -m bench.analytics`` fills a scratch database (``campaigns_analytics_bench`` of the embedded server, or
``--url``) set-based: 50 brokers in 10 time zones, 100 campaigns of 5 steps, 600,000 enrolments, ~1.8 million
log rows over 30 days (what a month of the benchmark's runs writes), 2 % goals, 6,000 replies, 300,000
delivery receipts; ANALYZE and VACUUM (what autovacuum does to an append-only table). Then, median of
``--repeat`` runs each: every SQL statement of the page's endpoints (for an admin of 3 brokers and of all 50),
the HTTP answers of the admin API served by uvicorn on 127.0.0.1; then the write cost: the engine's log writes
with the new index against the one it replaced (``write_logs`` of 2,000-row batches), and enrolment writes with
and without an enrolment index the page could have used (why it does not).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import Engine, text

from include.campaigns.api import create_app
from include.campaigns.api.auth import Principal
from include.campaigns.api.services import analytics
from include.campaigns.engine.logs import LogRow, write_logs
from include.campaigns.infra.migrations import truncate_all, upgrade

ZONES = ("America/Mexico_City", "America/Bogota", "Europe/Madrid", "America/Sao_Paulo", "America/Los_Angeles",
         "America/Argentina/Buenos_Aires", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "UTC")
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
FILL = """
INSERT INTO brokers (id, name, timezone)
SELECT b, 'Broker ' || b, (CAST(:zones AS text[]))[1 + b % 10] FROM generate_series(1, 50) b;
INSERT INTO campaigns (id, broker_id, name, channel, trigger_type, status)
SELECT c, 1 + (c - 1) / 2, 'Campaign ' || c, (ARRAY['whatsapp', 'sms', 'email'])[1 + c % 3], 'LEAD_SCORE', 'ACTIVE'
FROM generate_series(1, 100) c;
INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours)
SELECT c, s, (ARRAY['send_message', 'update_stage', 'make_call', 'send_message', 'schedule_meeting'])[s], 24 * (s - 1)
FROM generate_series(1, 100) c, generate_series(1, 5) s;
INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, status)
SELECT 1 + i % 100, i, 1 + (i % 100) / 2, :start + (i % 720) * interval '1 hour', 'ACTIVE'
FROM generate_series(1, 600000) i;
SELECT setseed(0.42);
INSERT INTO campaign_logs (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, channel,
                           broker_id)
SELECT e.campaign_id, e.lead_id, s,
       (ARRAY['send_message', 'update_stage', 'make_call', 'send_message', 'schedule_meeting'])[s], x.status,
       CASE x.status WHEN 'FAILED' THEN (ARRAY['no_phone_number', 'template_not_found',
                                               'provider_error: twilio 21211: invalid number'])[1 + e.lead_id % 3]
                     WHEN 'SKIPPED' THEN (ARRAY['condition_not_met', 'do_not_contact', 'frequency_capped'])[1 + e.lead_id % 3]
       END,
       e.enrolled_at + (s - 1) * interval '1 day', 'scheduled__bench',
       CASE s WHEN 3 THEN 'voice' WHEN 1 THEN c.channel WHEN 4 THEN c.channel END, e.broker_id
FROM campaign_enrolments e
JOIN campaigns c ON c.id = e.campaign_id
CROSS JOIN LATERAL generate_series(1, 1 + e.lead_id % 5) s
CROSS JOIN LATERAL (SELECT CASE WHEN r < 0.7 THEN 'SENT' WHEN r < 0.8 THEN 'FAILED' ELSE 'SKIPPED' END AS status
                    FROM (SELECT random() + s * 0 AS r) q) x
WHERE e.enrolled_at + (s - 1) * interval '1 day' < :start + interval '30 days';
INSERT INTO campaign_logs (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, broker_id)
SELECT campaign_id, lead_id, NULL, NULL, 'SKIPPED', 'goal_reached', enrolled_at + interval '3 days', 'scheduled__bench',
       broker_id
FROM campaign_enrolments WHERE lead_id % 53 = 7;
INSERT INTO campaign_stats (campaign_id, sent, failed, skipped, updated_at)
SELECT campaign_id, count(*) FILTER (WHERE status = 'SENT'), count(*) FILTER (WHERE status = 'FAILED'),
       count(*) FILTER (WHERE status = 'SKIPPED'), max(executed_at)
FROM campaign_logs GROUP BY campaign_id;
INSERT INTO lead_replies (broker_id, lead_id, channel, provider, provider_ref, from_address, body, kind, received_at)
SELECT 1 + (i % 100) / 2, i, 'sms', 'twilio', 'SM' || i, '+1555' || i, 'hola',
       CASE WHEN i % 3 = 0 THEN 'unsubscribe' ELSE 'reply' END, :start + (i % 720) * interval '1 hour' + interval '5 hours'
FROM generate_series(1, 600000, 97) i;
INSERT INTO message_deliveries (idempotency_key, campaign_id, lead_id, step_number, broker_id, channel, provider,
                                status, sent_at, updated_at)
SELECT campaign_id || ':' || lead_id || ':' || step_number, campaign_id, lead_id, step_number, broker_id, channel,
       'twilio', (ARRAY['delivered', 'delivered', 'delivered', 'read', 'undelivered', 'failed', 'sent'])[1 + lead_id % 7],
       executed_at, executed_at + interval '1 minute'
FROM campaign_logs WHERE status = 'SENT' AND channel IN ('sms', 'whatsapp') AND lead_id % 3 = 0;
"""


def fill(engine: Engine) -> dict[str, int]:
    upgrade(engine)
    truncate_all(engine)
    with engine.begin() as conn:
        for statement in (s for s in FILL.split(";\n") if s.strip()):
            conn.execute(text(statement), {"zones": list(ZONES), "start": START})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("campaign_logs", "campaign_enrolments", "lead_replies", "message_deliveries")}


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: plans cached, pages in memory, as on a page that is in use
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def queries(engine: Engine, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    month = analytics.Period(date(2026, 10, 1), date(2026, 10, 31))
    week = analytics.Period(date(2026, 10, 10), date(2026, 10, 16))
    with engine.connect() as conn:
        analytics.read_only(conn)  # as the endpoints do
        for who, brokers in (("3 brokers", [1, 2, 3]), ("50 brokers", list(range(1, 51)))):
            for label, period in (("all time", analytics.Period()), ("a week", week)):
                out[f"list, {who}, {label}"] = median_ms(lambda: analytics.campaigns(conn, brokers, period), repeat)
        head = analytics.campaign(conn, frozenset({1}), 1, analytics.Period())
        for name, part in analytics.PARTS.items():
            for label, period in (("all time", analytics.Period()), ("a month", month), ("a week", week)):
                out[f"{name}, one campaign, {label}"] = median_ms(lambda: part(conn, head, period), repeat)
    return out


def http(engine: Engine, repeat: int) -> dict[str, float]:
    """The endpoints as the page calls them, through uvicorn on a free port of 127.0.0.1."""
    import socket

    import uvicorn

    app = create_app(engine=engine, token_validator=lambda token: Principal(token, False))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM broker_admins WHERE username IN ('bench3', 'bench50')"))
        conn.execute(text("INSERT INTO broker_admins (username, broker_id) SELECT 'bench50', b FROM generate_series(1, 50) b "
                          "UNION ALL SELECT 'bench3', b FROM generate_series(1, 3) b"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    out: dict[str, float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1/analytics", timeout=30) as client:
            def get(path: str, token: str, **params: str) -> Callable[[], None]:
                def call() -> None:
                    r = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
                    r.raise_for_status()
                return call
            out["GET /campaigns (3 brokers)"] = median_ms(get("/campaigns", "bench3"), repeat)
            out["GET /campaigns (50 brokers)"] = median_ms(get("/campaigns", "bench50"), repeat)
            out["GET /campaigns?from&to a week (50 brokers)"] = median_ms(
                get("/campaigns", "bench50", **{"from": "2026-10-10", "to": "2026-10-16"}), repeat)
            out["GET /campaigns/1 (all time)"] = median_ms(get("/campaigns/1", "bench3"), repeat)
            out["GET /campaigns/1?from&to a week"] = median_ms(
                get("/campaigns/1", "bench3", **{"from": "2026-10-10", "to": "2026-10-16"}), repeat)
            out["GET /campaigns/1/daily.csv"] = median_ms(get("/campaigns/1/daily.csv", "bench3"), repeat)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return out


LOG_INDEXES = {  # the index of migration 0013 and the one it replaced
    "0013": "CREATE INDEX campaign_logs_campaign_time_status_idx ON campaign_logs (campaign_id, executed_at) "
            "INCLUDE (status, step_number)",
    "0001": "CREATE INDEX campaign_logs_campaign_time_idx ON campaign_logs (campaign_id, executed_at)",
}
# an index the page does not need, measured to say why it is not there
ENROLMENT_INDEX = "CREATE INDEX campaign_enrolments_campaign_time_idx ON campaign_enrolments (campaign_id, enrolled_at)"


def _only_log_index(engine: Engine, which: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX IF EXISTS campaign_logs_campaign_time_status_idx")
        conn.exec_driver_sql("DROP INDEX IF EXISTS campaign_logs_campaign_time_idx")
        conn.exec_driver_sql(LOG_INDEXES[which])


def _log_rows_per_second(engine: Engine, tag: str, batches: int, size: int = 2000) -> float:
    """``write_logs`` (the engine's one log writer) of 2,000-row batches, one transaction each."""
    done, t = 0, time.perf_counter()
    for b in range(batches):
        at = START + timedelta(days=40, hours=b)
        rows = [LogRow(1 + i % 100, 10_000_000 + b * size + i, 1, "send_message", "SENT", None, at,
                       f"bench-{tag}-{b}", "sms", 1 + (i % 100) // 2) for i in range(size)]
        with engine.begin() as conn:
            done += sum(write_logs(conn, rows).values())
    seconds = time.perf_counter() - t
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM campaign_logs WHERE run_id LIKE :t"), {"t": f"bench-{tag}-%"})
    return done / seconds


def _enrolments_per_second(engine: Engine, with_index: bool) -> tuple[float, float]:
    """One set-based INSERT of 200,000 enrolments, as ``enrol_leads`` writes a run's matches, then one UPDATE of
    their cursors, as ``save_enrolment_progress`` moves them: (inserted/s, updated/s)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX IF EXISTS campaign_enrolments_campaign_time_idx")
        if with_index:
            conn.exec_driver_sql(ENROLMENT_INDEX)
    t = time.perf_counter()
    with engine.begin() as conn:
        n = conn.execute(text(
            "INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, enrolled_run_id) "
            "SELECT 1 + i % 100, 20000000 + i, 1 + (i % 100) / 2, :at, 'bench-enrol' "
            "FROM generate_series(1, 200000) i"), {"at": START + timedelta(days=40)}).rowcount
    inserted = n / (time.perf_counter() - t)
    t = time.perf_counter()
    with engine.begin() as conn:
        n = conn.execute(text(
            "UPDATE campaign_enrolments SET last_step_number = last_step_number + 1, last_step_at = :at, "
            "contacts_made = contacts_made + 1, status = 'ACTIVE' WHERE enrolled_run_id = 'bench-enrol'"),
            {"at": START + timedelta(days=41)}).rowcount
    updated = n / (time.perf_counter() - t)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM campaign_enrolments WHERE enrolled_run_id = 'bench-enrol'"))
    return inserted, updated


def write_cost(engine: Engine, rounds: int = 5, batches: int = 25) -> dict[str, float]:
    """The write path with this migration's indexes and without them, alternated ``rounds`` times (so that
    neither always runs on a warmer cache); medians. The table is left as the migration made it."""
    logs: dict[str, list[float]] = {"0013": [], "0001": []}
    enrol: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        for r in range(rounds):
            for which in ("0013", "0001") if r % 2 == 0 else ("0001", "0013"):
                _only_log_index(engine, which)
                logs[which].append(_log_rows_per_second(engine, f"{which}-{r}", batches))
            for with_index in (True, False) if r % 2 == 0 else (False, True):
                enrol[with_index].append(_enrolments_per_second(engine, with_index))
    finally:
        _only_log_index(engine, "0013")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX IF EXISTS campaign_enrolments_campaign_time_idx")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE campaign_logs, campaign_enrolments")
    return {"log rows/s, 0013's index": round(statistics.median(logs["0013"])),
            "log rows/s, the index it replaced": round(statistics.median(logs["0001"])),
            "enrolments inserted/s": round(statistics.median(i for i, _ in enrol[False])),
            "enrolments inserted/s with a (campaign_id, enrolled_at) index": round(
                statistics.median(i for i, _ in enrol[True])),
            "enrolment cursors updated/s": round(statistics.median(u for _, u in enrol[False])),
            "enrolment cursors updated/s with that index": round(statistics.median(u for _, u in enrol[True]))}


def main(argv: list[str] | None = None) -> int:
    from include.campaigns.infra import embedded
    from include.campaigns.infra.database import get_engine, sqlalchemy_url
    from include.campaigns.infra.paths import apply_airflow_env_defaults

    parser = argparse.ArgumentParser(prog="python -m bench.analytics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a scratch PostgreSQL database (everything in it is replaced)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the data of a previous run")
    parser.add_argument("--no-writes", action="store_true", help="skip the write-cost measurement")
    args = parser.parse_args(argv)
    apply_airflow_env_defaults()
    engine = get_engine(args.url or sqlalchemy_url(embedded.ensure_running("campaigns_analytics_bench")))
    report: dict[str, Any] = {}
    if not args.keep:
        t = time.perf_counter()
        report["rows"] = fill(engine)
        report["fill_seconds"] = round(time.perf_counter() - t, 1)
    report["sql_ms"] = queries(engine, args.repeat)
    report["http_ms"] = http(engine, args.repeat)
    if not args.no_writes:
        report["writes"] = write_cost(engine)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
