"""Enrolments an engine error set aside: listed for the admin of their broker, retried once the bug is fixed."""

from __future__ import annotations

from sqlalchemy import text

from tests.api.conftest import API, active_campaign, add_step, new_campaign, set_status, table_counts


def _brokers_2_campaign(bob) -> dict:
    c = new_campaign(bob)
    add_step(bob, c["id"], message_template_id=21)
    assert set_status(bob, c["id"], "ACTIVE").status_code == 200
    return c


def _enrol(db, campaign_id: int, lead_id: int, broker_id: int, status: str, error: str | None = None) -> None:
    failed = error is not None
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, last_step_number, status, "
            "error, error_step, error_at, error_run_id) VALUES (:c, :l, :b, '2026-11-25T10:00Z', 1, :s, :e, :step, "
            ":at, :run)"),
            {"c": campaign_id, "l": lead_id, "b": broker_id, "s": status, "e": error, "step": 2 if failed else None,
             "at": "2026-11-25T11:00Z" if failed else None, "run": "scheduled__x" if failed else None})


def test_errors_are_listed_with_their_step_and_run_and_scoped_to_the_callers_brokers(client, client_for, db):
    mine = active_campaign(client)
    theirs = _brokers_2_campaign(client_for("bob-token"))
    _enrol(db, mine["id"], 101, 1, "ERROR", "KeyError: 'budget'")
    _enrol(db, mine["id"], 102, 1, "ACTIVE")
    _enrol(db, theirs["id"], 201, 2, "ERROR", "ValueError: boom")

    r = client.get(f"{API}/enrolments", params={"status": "ERROR"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1
    [item] = page["items"]
    assert (item["campaign_id"], item["lead_id"], item["status"], item["error"], item["error_step"],
            item["error_run_id"]) == (mine["id"], 101, "ERROR", "KeyError: 'budget'", 2, "scheduled__x")
    assert client.get(f"{API}/enrolments").json()["total"] == 2  # both of broker 1's, not broker 2's
    detail = client.get(f"{API}/campaigns/{mine['id']}").json()
    assert detail["enrolments"] == {"active": 1, "completed": 0, "stopped": 0, "error": 1}


def test_retry_puts_the_enrolment_back_to_active_with_its_cursor_and_clears_the_error(client, db):
    c = active_campaign(client)
    _enrol(db, c["id"], 101, 1, "ERROR", "KeyError: 'budget'")
    r = client.post(f"{API}/campaigns/{c['id']}/enrolments/101/retry")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["last_step_number"], body["error"], body["error_step"]) == ("ACTIVE", 1, None, None)
    again = client.post(f"{API}/campaigns/{c['id']}/enrolments/101/retry")  # already ACTIVE: nothing to retry
    assert again.status_code == 409 and "only an enrolment set aside by an engine error" in again.json()["detail"]


def test_retry_of_another_brokers_or_a_missing_enrolment_is_a_404_and_writes_nothing(client, client_for, db):
    theirs = _brokers_2_campaign(client_for("bob-token"))
    _enrol(db, theirs["id"], 201, 2, "ERROR", "ValueError: boom")
    mine = active_campaign(client)
    before = table_counts(db)
    assert client.post(f"{API}/campaigns/{theirs['id']}/enrolments/201/retry").status_code == 404
    assert client.post(f"{API}/campaigns/{mine['id']}/enrolments/999/retry").status_code == 404
    assert table_counts(db) == before
    with db.connect() as conn:
        assert conn.execute(text("SELECT status FROM campaign_enrolments WHERE lead_id = 201")).scalar() == "ERROR"


def test_a_bad_status_filter_is_a_422(client, db):
    r = client.get(f"{API}/enrolments", params={"status": "BROKEN"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"
