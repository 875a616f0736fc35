"""A make_call step may name its call script: an active template of the campaign's broker with channel
``voice`` (checked when the step is written and again at activation), like send_message's template."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.conftest import API, add_step, new_campaign, set_status, table_counts
from tests.factories import add_template


@pytest.fixture
def scripts(db):
    add_template(db, 14, 1, "voice", body="Hola {{ lead.first_name }}, le llamamos de {{ broker.name }}.")
    add_template(db, 15, 1, "voice", body="Viejo guion", is_active=False)
    add_template(db, 24, 2, "voice", body="Guion de otro broker")


def test_a_voice_template_is_a_call_script(client, scripts):
    c = new_campaign(client)
    step = add_step(client, c["id"], step_number=1, action="make_call", message_template_id=14)
    assert step["message_template_id"] == 14
    assert set_status(client, c["id"], "ACTIVE").status_code == 200
    detail = client.get(f"{API}/campaigns/{c['id']}").json()
    assert detail["steps"][0] == {**detail["steps"][0], "action": "make_call", "message_template_id": 14}


@pytest.mark.parametrize("template, says", [
    (11, "message template 11 is for channel whatsapp, a call script must be a voice template"),
    (15, "message template 15 is inactive"),
    (24, "message template 24 does not exist for broker 1"),
    (99, "message template 99 does not exist for broker 1"),
])
def test_a_call_script_that_is_not_an_active_voice_template_of_the_broker_is_refused(client, db, scripts, template,
                                                                                   says):
    c = new_campaign(client)
    before = table_counts(db)
    r = client.post(f"{API}/campaigns/{c['id']}/steps",
                    json={"step_number": 1, "action": "make_call", "message_template_id": template})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "message_template_id" and says in r.json()["detail"]
    assert table_counts(db) == before


def test_activation_refuses_a_call_script_that_became_unusable(client, db, scripts):
    c = new_campaign(client)
    add_step(client, c["id"], step_number=1, action="make_call", message_template_id=14)
    with db.begin() as conn:
        conn.execute(text("UPDATE message_templates SET is_active = false WHERE id = 14"))
    r = set_status(client, c["id"], "ACTIVE")
    assert r.status_code == 409 and "step 1: message template 14 is inactive" in r.json()["detail"]


@pytest.mark.parametrize("action, extra", [("schedule_meeting", {}), ("update_stage", {"config": {"stage": "won"}})])
def test_other_actions_still_take_no_template(client, scripts, action, extra):
    c = new_campaign(client)
    r = client.post(f"{API}/campaigns/{c['id']}/steps",
                    json={"step_number": 1, "action": action, "message_template_id": 14, **extra})
    assert r.status_code == 422 and "only send_message and make_call" in r.json()["detail"]
