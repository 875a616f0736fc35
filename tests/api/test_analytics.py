"""The analysts' views and the analytics endpoints against what the raw rows say: over data the demo
generator and the real engine made (six brokers, UTC-8 to UTC+13), and at the edges (a log at 23:30 UTC, bad
input, other brokers' campaigns)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from include.campaigns.api import create_app
from include.campaigns.api.auth import InvalidToken, Principal
from include.campaigns.engine.logs import LogRow, write_logs
from tests.factories import add_broker, add_campaign
from tests.support import analytics_data as data

pytestmark = pytest.mark.integration

API = "/api/v1/analytics"
USERS = {"ana-token": Principal("ana", False), "root-token": Principal("root", True),
         "nobody-token": Principal("nobody", True)}
GRANTS = {"ana": (1, 2, 6), "root": (3, 4, 5)}  # ana: not an Airflow admin; nobody: no broker
PERIOD = (date(2026, 11, 25), date(2026, 11, 26))


def validator(token: str) -> Principal:
    try:
        return USERS[token]
    except KeyError:
        raise InvalidToken("invalid token") from None


def grant(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM broker_admins WHERE username = ANY(:u)"), {"u": list(GRANTS)})
        conn.execute(text("INSERT INTO broker_admins (username, broker_id) VALUES (:u, :b)"),
                     [{"u": u, "b": b} for u, brokers in GRANTS.items() for b in brokers])


def client(engine, token: str | None = "ana-token") -> TestClient:
    app = create_app(engine=engine, token_validator=validator)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"} if token else {},
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def world(database_url):
    from include.campaigns.infra.database import get_engine

    engine = get_engine(database_url)
    data.build(engine)
    grant(engine)
    with engine.connect() as conn:
        brokers = dict(conn.execute(text("SELECT id, broker_id FROM campaigns")).all())
    return engine, data.logs(engine), brokers


def test_every_contact_step_log_carries_its_channel(world):
    engine, logs, _ = world
    assert {r.action for r in logs} >= {"send_message", "make_call", "update_stage", "schedule_meeting"}
    with engine.connect() as conn:
        wrong = conn.execute(text(
            "SELECT l.action, l.channel, c.channel, count(*) FROM campaign_logs l JOIN campaigns c ON c.id = l.campaign_id "
            "WHERE l.action IN ('send_message', 'make_call') AND l.channel IS DISTINCT FROM "
            "CASE l.action WHEN 'make_call' THEN 'voice' ELSE c.channel END GROUP BY 1, 2, 3")).all()
    assert wrong == []


def test_the_views_equal_the_raw_logs(world):
    engine, logs, brokers = world
    with engine.connect() as conn:
        daily = conn.execute(text("SELECT campaign_id, day, sent, failed, skipped FROM campaign_daily_stats")).all()
        funnel = conn.execute(text("SELECT campaign_id, step_number, sent, failed, skipped FROM campaign_step_funnel")).all()
        reasons = conn.execute(text("SELECT campaign_id, step_number, status, reason, count "
                                    "FROM campaign_failure_reasons")).all()
        stats = {r[0]: tuple(r[1:]) for r in conn.execute(text("SELECT campaign_id, sent, failed, skipped FROM campaign_stats"))}
    expected_days = {}
    for cid in brokers:
        for d in data.expected_daily(logs, cid):
            if d["sent"] or d["failed"] or d["skipped"]:  # the view has no row for a day without logs
                expected_days[(cid, d["day"])] = (d["sent"], d["failed"], d["skipped"])
    assert {(r[0], r[1].isoformat()): tuple(r[2:]) for r in daily} == expected_days
    for cid, st in stats.items():  # the days of a campaign add up to its campaign_stats
        assert tuple(sum(v[i] for (c, _), v in expected_days.items() if c == cid) for i in range(3)) == st
    for cid in brokers:
        steps = data.expected_funnel(logs, cid)
        shown = {r[1]: dict(zip(("sent", "failed", "skipped"), r[2:])) for r in funnel if r[0] == cid}
        assert {n: v for n, v in shown.items() if any(v.values())} == steps
        assert Counter({(r[1], r[2], r[3]): r[4] for r in reasons if r[0] == cid}) == data.expected_reasons(logs, cid)


def test_conversions_count_goals_and_replies_of_the_enrolled(world):
    engine, logs, brokers = world
    with engine.connect() as conn:
        view = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT campaign_id, enrolled, goal_reached, replied, unsubscribed, conversion_rate FROM campaign_conversions"))}
        enrolments = conn.execute(text("SELECT campaign_id, lead_id, broker_id, enrolled_at FROM campaign_enrolments")).all()
        replies = conn.execute(text("SELECT lead_id, broker_id, kind, received_at FROM lead_replies")).all()
        goals = Counter(r[0] for r in conn.execute(text(
            "SELECT campaign_id FROM campaign_logs WHERE reason = 'goal_reached'")))
    assert sum(goals.values()) > 0 and any(k == "reply" for _, _, k, _ in replies)
    for cid in brokers:
        mine = [e for e in enrolments if e[0] == cid]
        answered = {kind: {e[1] for e in mine for lead, b, k, at in replies if k == kind and lead == e[1] and b == e[2]
                           and at >= e[3]} for kind in ("reply", "unsubscribe")}
        rate = round(goals[cid] / len(mine), 4) if mine else None
        assert view[cid][:4] == (len(mine), goals[cid], len(answered["reply"]), len(answered["unsubscribe"])), cid
        assert (float(view[cid][4]) if view[cid][4] is not None else None) == rate


@pytest.mark.parametrize("period", [(None, None), PERIOD], ids=["all-time", "two-days"])
def test_the_endpoints_equal_the_raw_logs(world, period):
    engine, logs, brokers = world
    first, last = period
    query = {k: v.isoformat() for k, v in (("from", first), ("to", last)) if v}
    with client(engine) as http:
        listed = http.get(f"{API}/campaigns", params=query)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert [b["id"] for b in body["brokers"]] == list(GRANTS["ana"])
        mine = sorted(c for c, b in brokers.items() if b in GRANTS["ana"])
        assert [c["id"] for c in body["campaigns"]] == mine
        for c in body["campaigns"]:
            assert {k: c[k] for k in ("sent", "failed", "skipped")} == data.expected_totals(logs, c["id"], first, last)
            detail = http.get(f"{API}/campaigns/{c['id']}", params=query).json()
            assert detail["campaign"] == c
            assert detail["daily"] == data.expected_daily(logs, c["id"], first, last)
            funnel = data.expected_funnel(logs, c["id"], first, last)
            assert {s["step_number"]: {k: s[k] for k in ("sent", "failed", "skipped")} for s in detail["funnel"]
                    if s["sent"] or s["failed"] or s["skipped"]} == funnel
            assert Counter({(r["step_number"], r["status"], r["reason"]): r["count"]
                            for r in detail["failure_reasons"]}) == data.expected_reasons(logs, c["id"], first, last)
            assert detail["period"] == {"from": query.get("from"), "to": query.get("to")}


def test_without_a_period_the_list_is_the_conversions_view(world):
    engine, _, _ = world
    with engine.connect() as conn:
        view = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT campaign_id, enrolled, goal_reached, replied, conversion_rate FROM campaign_conversions"))}
    with client(engine) as http:
        for c in http.get(f"{API}/campaigns").json()["campaigns"]:
            rate = view[c["id"]][3]
            assert (c["enrolled"], c["goal_reached"], c["replied"]) == view[c["id"]][:3]
            assert c["conversion_rate"] == (str(rate) if rate is not None else None)


def test_the_csv_is_what_the_json_says(world):
    engine, _, _ = world
    query = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    with client(engine) as http:
        listed = http.get(f"{API}/campaigns", params=query).json()["campaigns"]
        r = http.get(f"{API}/campaigns.csv", params=query)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="campaigns_2026-11-25_2026-11-26.csv"' in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [int(row["id"]) for row in rows] == [c["id"] for c in listed]
        assert [int(row["sent"]) for row in rows] == [c["sent"] for c in listed]
        busiest = max(listed, key=lambda c: c["sent"])["id"]
        detail = http.get(f"{API}/campaigns/{busiest}", params=query).json()
        for part in ("daily", "funnel", "failure_reasons", "deliveries"):
            r = http.get(f"{API}/campaigns/{busiest}/{part}.csv", params=query)
            assert r.status_code == 200, r.text
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert [{k: str(v) if v is not None else "" for k, v in item.items()} for item in detail[part]] == rows


def test_bad_input_and_other_brokers_are_refused(world):
    engine, _, brokers = world
    foreign = min(c for c, b in brokers.items() if b not in GRANTS["ana"])
    with client(engine) as http:
        r = http.get(f"{API}/campaigns", params={"from": "2026-11-27", "to": "2026-11-25"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to" and "reversed" in r.json()["detail"]
        r = http.get(f"{API}/campaigns", params={"from": "2026-02-30"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"
        r = http.get(f"{API}/campaigns", params={"from": "2001-01-01", "to": "2026-01-01"})
        assert r.status_code == 422 and "longer than" in r.json()["detail"]
        r = http.get(f"{API}/campaigns/1", params={"from": "0001-01-01"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from" and "outside" in r.json()["detail"]
        r = http.get(f"{API}/campaigns", params={"broker_id": 3})
        assert r.status_code == 403 and "broker 3" in r.json()["detail"]
        assert http.get(f"{API}/campaigns/{foreign}").status_code == 404
        assert http.get(f"{API}/campaigns/{foreign}/daily.csv").status_code == 404
        assert http.get(f"{API}/campaigns/999999").json() == {"detail": "campaign 999999 not found"}
        r = http.get(f"{API}/campaigns/1/everything.csv")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "part"
        only_six = http.get(f"{API}/campaigns", params={"broker_id": 6}).json()["campaigns"]
        assert only_six and {c["broker_id"] for c in only_six} == {6}
        # ana is not an Airflow admin: she reads the analytics, the admin API stays closed to her
        assert http.get("/api/v1/campaigns").status_code == 403
    with client(engine, None) as http:
        assert http.get(f"{API}/campaigns").status_code == 401
    with client(engine, "forged") as http:
        assert http.get(f"{API}/campaigns").status_code == 401
    with client(engine, "nobody-token") as http:
        r = http.get(f"{API}/campaigns")
        assert r.status_code == 403 and "administers no broker" in r.json()["detail"]


def test_a_log_at_2330_utc_falls_on_each_brokers_own_day(engine):
    """23:30 UTC on 25 November: the 25th in New York, the 26th in Madrid (00:30) and Auckland (12:30)."""
    zones = {1: "America/New_York", 2: "Europe/Madrid", 3: "Pacific/Auckland"}
    campaigns = {}
    for broker, tz in zones.items():
        add_broker(engine, broker, f"Broker {broker}", tz)
        campaigns[broker] = add_campaign(engine, broker_id=broker, steps=[{"action": "send_message"}])
    at = datetime(2026, 11, 25, 23, 30, tzinfo=timezone.utc)
    with engine.begin() as conn:
        write_logs(conn, [LogRow(cid, lead, 1, "send_message", "SENT", None, at, "manual__t", "whatsapp", broker)
                          for broker, cid in campaigns.items() for lead in (1, 2)])
    grant(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO broker_admins (username, broker_id) VALUES ('ana', 3)"))
        days = dict(conn.execute(text("SELECT campaign_id, day FROM campaign_daily_stats")).all())
    assert days == {campaigns[1]: date(2026, 11, 25), campaigns[2]: date(2026, 11, 26), campaigns[3]: date(2026, 11, 26)}
    with client(engine) as http:
        on_26th = http.get(f"{API}/campaigns", params={"from": "2026-11-26", "to": "2026-11-26"}).json()
        assert {c["id"]: c["sent"] for c in on_26th["campaigns"]} == {
            campaigns[1]: 0, campaigns[2]: 2, campaigns[3]: 2}
        daily = http.get(f"{API}/campaigns/{campaigns[3]}").json()["daily"]
        assert daily == [{"day": "2026-11-26", "sent": 2, "failed": 0, "skipped": 0}]
        tz = {b["id"]: b["timezone"] for b in on_26th["brokers"]}
        assert tz[1] == "America/New_York" and tz[3] == "Pacific/Auckland"
