from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, logs


def test_apply_manual_campaign_sends_first_step(engine, run_dag):
    add_broker(engine)
    add_lead(engine, 1)
    add_template(engine, 10)
    cid = add_campaign(engine, steps=[{"action": "send_message", "message_template_id": 10}])
    dr = run_dag(T0, {"campaign_id": cid, "lead_id": 1}, manual=True)
    assert dr.state == "success"
    assert [(r[0], r[1], r[3]) for r in logs(engine, cid)] == [(1, 1, "SENT")]
