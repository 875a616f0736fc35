"""The pipeline at 20,000 leads against a plain reference evaluation (issue 4: scaling that stays correct;
issue 8: real CRM data; issue 13: quiet hours, goals and frequency caps).

A deterministic random data set (tests/support/reference_data.py and reference_scenario.py: four brokers in Mexico, Colombia, Spain and
Argentina, each with its own stage words -- Spanish snake_case, English, a shorter pipeline -- and one with no
pipeline rows at all, whose stages are free text; leads in many time zones, with and without daylight saving
time; campaigns of every trigger type in each broker's words, zero-delay chains and delays that fall due
exactly at a later sweep, conditions, max_contacts 0/1/2/3, do_not_contact leads, missing / inactive / foreign /
wrong-channel / unrenderable templates, leads without phone or e-mail, sandbox-unreachable numbers and bouncing
addresses; steps, inserted by SQL as the admin API would refuse them, whose update_stage target or conditions
name a stage outside the broker's pipeline; rows that validation sets aside: another CRM's stage, blank stages,
unknown time zones, scores out of range, malformed addresses, activity in the future; campaign options: quiet
hours across midnight and in the day, goals, per-channel and every-channel frequency caps) goes through six
sweeps of the real pipeline stages, called as the DAG's tasks call them, with CRM changes and campaign status
changes between the sweeps. After each sweep its campaign_logs rows (with their time and channel) and the rows
it set aside (with their reasons) must equal those of ``tests/reference_model`` exactly; at the end the
enrolments (status, cursor, the time later delays count from, finished_at), campaign_stats, the leads' stages
and the meetings must too.

Sweeps (local times in reference_data's docstring; European summer time ends between R3 and R4): R0 (T0-1h)
sees the leads as they were, with every campaign still a DRAFT: it only leaves the "previous snapshot" behind,
through the engine itself. R1 (T0) activates the campaigns and sees stage changes since R0, new leads (some
imported with an old updated_at), leads crossing an inactivity boundary. R2 (T0+1h): broker 1's pipeline gains
'en_pausa' (leads set aside since R0 become valid) and loses 'descartado' (valid leads are set aside, their due
steps wait); enrolled leads are made malformed, others are deleted from the CRM. R3 (T0+3h): the malformed ones
are fixed, some 'descartado' leads are moved on, some original bad rows are fixed, new ones arrive. R4
(T0+27h): the CRM touches updated_at of bad rows without changing them and changes others that stay bad;
broker 4 gets a frequency cap, broker 3 drops its own. R5 (T0+35h): the evening. Every sweep also follows
score / stage / activity changes, and from R2 on the CRM closes leads (won or lost) enrolled in campaigns
with that goal; a campaign is paused and resumed, one activated late, one archived; step delays of 1, 3, 24
and 8 hours fall due exactly at R2, R3, R4 and R5. Unchanged bad rows must not be read again.

Quiet hours defer contact steps from R1 and R2 to R3 (Mexico City's 07:00 is the end of its window, so R3 is
outside it), from R1 to R2 (New York), from R1 to R5 (Tijuana), from R3 to R4 (Madrid at 15:00 summer time,
14:00 winter time at R4), across several sweeps and after a meeting of the same run; goals end enrolments
through the CRM (with or without a step due, and while a campaign is paused) and through a campaign's own stage
move; frequency caps bite on two campaigns of one lead in one run, on calls (voice) and on every channel, and
let the lead be contacted again once their window has passed. ``_assert_the_options_occur`` checks that each
really happens.

The chunks run one after another in R0, R1, R3 and R5, on two threads in R2 and R4: the outcome must not
depend on it. Neither may the order of a lead's campaigns within a run (the contract fixes none): the
reference says where it would (``cross_campaign_*``), and the data set keeps away from it.

Two engine bugs this comparison found (an unchanged bad row read again when its activity crossed an INACTIVITY
boundary; a deleted lead that was set aside waiting for ever) have minimal reproductions at the end of this
module, and so have two it found with the campaign options: max_contacts_reached inside quiet hours waited for
the window's end; a set-aside lead with an unknown time zone in a campaign with quiet hours failed the plan.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.factories import T0, add_broker, add_campaign, add_lead, add_template, assert_stats_match_logs, update_lead
from tests.reference_model import Reference, Sweep, in_quiet_hours
from tests.support import reference_data as d
from tests.support.reference_db import (
    apply_changes, assert_same, load, logs_of_run, normalise, rejects_of_run, rows, run_pipeline,
)
from tests.support.reference_scenario import Scenario

pytestmark = pytest.mark.integration

PARALLEL_RUNS = {"R2", "R4"}


# -- the test -----------------------------------------------------------------------------------------------
def test_the_pipeline_agrees_with_the_reference_at_20k_leads(engine):
    sc = Scenario()
    at_r0 = sc.at_r0()
    t = time.perf_counter()
    load(engine, brokers=sc.brokers, pipelines=sc.pipelines, agents=sc.agents, templates=sc.templates,
         campaigns=sc.campaigns, steps=sc.steps, leads=at_r0, frequency_caps=sc.frequency_caps)
    print("load", round(time.perf_counter() - t, 2))
    ref = Reference(brokers=sc.brokers, pipelines=sc.pipelines, agents=sc.agents, leads=at_r0,
                    templates=sc.templates, campaigns=sc.campaigns, steps=sc.steps, frequency_caps=sc.frequency_caps)

    per_run, db_rejects = {}, {}
    for name in d.RUN_TIMES:
        s = sc.sweep(name, ref)
        t = time.perf_counter()
        apply_changes(engine, s)
        print(name, "changes", round(time.perf_counter() - t, 2))
        run_pipeline(engine, s, parallel=name in PARALLEL_RUNS)
        before = len(ref.logs)
        ref.sweep(s)
        expected = {normalise(r) for r in ref.logs[before:]}
        assert len(expected) == len(ref.logs) - before  # the reference never logs a row twice
        assert_same(f"campaign_logs of {name}", logs_of_run(engine, s.run_id), expected)
        expected_rejects = {(lid, tuple(reasons)) for lid, reasons in ref.rejected[s.run_id].items()}
        db_rejects[s.run_id] = rejects_of_run(engine, s.run_id)
        assert_same(f"lead_rejects of {name}", db_rejects[s.run_id], expected_rejects)
        per_run[name] = Counter(r[4] for r in expected)

    result = ref.result()
    assert result.cross_campaign_stage_effects == [], "the data set lets campaigns of one lead interfere"
    assert result.cross_campaign_cap_order == [], "the data set lets the order of a lead's campaigns decide a cap"
    assert result.max_contacts_in_quiet_hours == [], "see test_max_contacts_reached_inside_quiet_hours_..."
    # nothing else in the logs (no row without a run, no row of another run)
    assert rows(engine, "SELECT count(*) FROM campaign_logs") == [(len(result.logs),)]

    # the anchor later delays count from: the real execution of the last step (or the enrolment)
    got_enrolments = set(rows(engine, "SELECT campaign_id, lead_id, enrolled_at, status, last_step_number, "
                                      "contacts_made, coalesce(last_step_at, enrolled_at), finished_at "
                                      "FROM campaign_enrolments"))
    assert_same("campaign_enrolments", got_enrolments,
                {(e.campaign_id, e.lead_id, e.enrolled_at, e.status, e.last_step_number, e.contacts_made,
                  e.last_step_at or e.enrolled_at, e.finished_at) for e in result.enrolments.values()})

    assert_stats_match_logs(engine)
    assert set(rows(engine, "SELECT campaign_id, sent, failed, skipped FROM campaign_stats")) == {
        (cid, *counts) for cid, counts in result.stats.items()}

    assert dict(rows(engine, "SELECT id, stage FROM leads")) == result.lead_stages
    assert_same("appointments",
                set(rows(engine, "SELECT campaign_id, lead_id, step_number, agent_id FROM appointments")),
                result.meetings)
    # a meeting lasts the default 60-minute slot, and one agent's meetings never overlap
    assert rows(engine, "SELECT count(*) FROM appointments WHERE ends_at - starts_at <> interval '60 minutes'") \
        == [(0,)]
    assert rows(engine, "SELECT count(*) FROM appointments a JOIN appointments b ON a.agent_id = b.agent_id "
                        "AND a.id < b.id AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)") \
        == [(0,)]
    counted = dict(rows(engine, "SELECT run_id, CAST(counts->>'leads_rejected' AS int) FROM pipeline_runs"))
    assert counted == {f"reference__{name}": len(db_rejects[f"reference__{name}"]) for name in d.RUN_TIMES}

    # remembered rejects, in the database's own rows: bad rows nobody changed (updated_at aside) are read once
    # (R0, or R1 when they arrive then); broker 1's are read again at R2 only, when its pipeline changed
    rejected_in: dict[int, list[str]] = {}
    for run_id, found in db_rejects.items():
        for lead_id, _reasons in sorted(found):
            rejected_in.setdefault(lead_id, []).append(run_id)
    quiet = [lid for lid in sc.malformed if lid not in sc.changed  # and not re-checked for activity in the future
             and (sc.lead_by_id[lid]["last_activity_at"] or d.RUN_TIMES["R0"]) <= d.RUN_TIMES["R0"]]
    assert len(quiet) > 50
    for lid in quiet:
        first = "reference__R1" if lid in sc.new_at_r1 else "reference__R0"
        again = ["reference__R2"] if sc.lead_by_id[lid]["broker_id"] == 1 else []
        assert rejected_in[lid] == [first, *again], (lid, rejected_in[lid])
    _assert_the_data_set_exercises_what_it_claims(sc, result, per_run)
    _assert_the_options_occur(sc, ref, result)


def _assert_the_data_set_exercises_what_it_claims(sc: Scenario, result, per_run) -> None:
    """Guards against a generator that drifts: each behaviour the module docstring names really occurs."""
    reasons = Counter(r[5] for r in result.logs)
    for reason in ("template_not_found", "template_inactive", "no_phone_number", "no_email_address",
                   "provider_error: unreachable number", "provider_error: mailbox unavailable",
                   "condition_not_met", "do_not_contact", "max_contacts_reached", "no_assigned_agent",
                   "lead_not_found"):
        assert reasons[reason] > 0, reason
    for prefix in ("template_channel_mismatch", "render_error", "unknown_stage: 'closing' is not in broker 3's",
                   "unknown_stage: '  ' is not a stage"):
        assert any(r and r.startswith(prefix) for r in reasons), prefix
    in_conditions = {r for r in reasons if r and r.endswith("(in the step's conditions)")}
    assert any("'en_pausa'" in r for r in in_conditions) and any("'qualified'" in r for r in in_conditions)
    assert {r[3] for r in result.logs} >= {"send_message", "make_call", "schedule_meeting", "update_stage"}
    by_trigger = Counter(sc.trigger_of[cid] for cid, _ in result.enrolments)
    assert by_trigger["LEAD_SCORE"] and by_trigger["STAGE_CHANGE"] and by_trigger["INACTIVITY"]
    assert all(per_run[name]["SENT"] > 0 for name in ("R1", "R2", "R3", "R4", "R5")), per_run
    set_aside = Counter(reason for found in result.rejected.values() for rs in found.values() for reason in rs)
    for reason in ("unknown_stage", "stage_missing", "unknown_timezone", "score_out_of_range", "score_missing",
                   "malformed_email", "malformed_phone", "activity_in_future"):
        assert set_aside[reason] > 0, reason
    assert result.rejected["reference__R3"] and result.rejected["reference__R4"]
    assert set(result.rejected["reference__R4"]) & set(result.rejected["reference__R0"])  # changed, still bad
    r2 = result.rejected["reference__R2"]
    assert sum(1 for lid in r2 if result.lead_stages.get(lid) == "descartado") > 50  # a stage left the pipeline
    paused = {lid for lid, stage in result.lead_stages.items() if stage == "en_pausa"}
    assert paused & set(result.rejected["reference__R0"])  # set aside until the pipeline gained their stage...
    assert any(lid in paused for (_c, lid) in result.enrolments)  # ... then enrolled


def _assert_the_options_occur(sc: Scenario, ref: Reference, result) -> None:
    """Quiet hours, goals and frequency caps, each as the module docstring says."""
    run_of = {f"reference__{name}": name for name in d.RUN_TIMES}
    ran = {(r[0], r[1], r[2]): run_of[r[7]] for r in result.logs if r[2] is not None}  # a step -> its run
    campaign = {(c["broker_id"], c["name"]): c["id"] for c in sc.campaigns}
    by_name = lambda name: {cid for (_b, n), cid in campaign.items() if n == name}  # noqa: E731

    def zone(lead_id):
        lead = ref.leads.get(lead_id)
        return lead and (lead["timezone"] or d.BROKERS[lead["broker_id"] - 1]["timezone"])

    # quiet hours: deferred steps ran later, stamped with their own run; some waited several sweeps; a
    # zero-delay message after a meeting of the same run waited; some are still waiting (not dropped)
    waited = Counter((c, lid, n) for _r, c, lid, n, _after in result.deferred)
    later = {(run_of[r], c, lid, n, after) for r, c, lid, n, after in result.deferred if (c, lid, n) in ran}
    assert later and any(after for *_, after in later)
    assert any(waited[(c, lid, n)] >= 4 and ran[(c, lid, n)] == "R5" for _r, c, lid, n, _a in later)  # Tijuana
    assert any((c, lid, n) not in ran and ref.enrolments[(c, lid)].status == "ACTIVE" for (c, lid, n) in waited)
    k = {b: campaign[(b, "Buenos días")] for b in (1, 2, 3, 4)}
    # ... the window's end is outside it: 07:00 in Mexico City at R3, 07:00 in New York (summer time) at R2
    assert any(c == k[1] and ran[(c, lid, n)] == "R3" and zone(lid) == "America/Mexico_City"
               for _r, c, lid, n, _a in later)
    assert any(c == k[2] and r == "R1" and ran[(c, lid, n)] == "R2" and zone(lid) == "America/New_York"
               for r, c, lid, n, _a in later)
    # ... 15:00 in Madrid at R3 is inside broker 3's window; R4, at the same UTC hour, is 14:00 (winter time)
    assert any(c == k[3] and r == "R3" and ran[(c, lid, n)] == "R4" and zone(lid) == "Europe/Madrid"
               for r, c, lid, n, _a in later)
    assert any(c == k[4] and r == "R1" for r, c, *_ in later)  # a daytime window from 07:00 in Buenos Aires
    assert any(c in by_name("Bienvenida a calificados") and run_of[r] == "R5" for r, c, *_ in result.deferred)  # 22:00
    # ... and a lead the CRM deleted (before R2) waits out its broker's night before its lead_not_found entry
    gone = {(r[0], r[1]) for r in result.logs if r[5] == "lead_not_found"}
    assert any((c, lid) in gone and lid in sc.deleted and run_of[r] != "R1" for r, c, lid, _n, _a in result.deferred)

    # goals: reached through the CRM (with and without a step due), through the campaign's own stage move,
    # and while a campaign was paused (seen when it resumed)
    hows = Counter((how, due) for _r, _c, _l, how, due in result.goals)
    assert hows[("crm", True)] and hows[("crm", False)] and hows[("own_step", True)], hows
    assert any(r == "reference__R3" and c in by_name("Preventa") for r, c, *_ in result.goals)

    # frequency caps: per channel (calls as voice) and for every channel; two campaigns of a lead in one run;
    # a cap whose window has passed lets the lead be contacted again on that channel (brokers 1 and 2 keep
    # their caps throughout); the cap broker 4 gets at R4 counts contacts made before it existed
    capped = [(run_of[r], c, lid, n, ch, now) for r, c, lid, n, ch, now in result.capped]
    broker = {c["id"]: c["broker_id"] for c in sc.campaigns}
    assert {ch for _r, c, *_x, ch, _n in capped if broker[c] == 3} >= {"voice", "email", "whatsapp"}
    assert any(ch == "voice" and broker[c] == 2 for _r, c, _l, _n, ch, _now in capped)
    assert any(now and c in by_name("Recordatorio") and r == "R1" for r, c, _l, _n, _ch, now in capped)
    sent_on = {(r[1], r[8], run_of[r[7]]) for r in result.logs if r[4] == "SENT" and r[8]}
    runs = list(d.RUN_TIMES)
    assert any(broker[c] in (1, 2) and any((lid, ch, later_run) in sent_on for later_run in runs[runs.index(r) + 1:])
               for r, c, lid, _n, ch, _now in capped)
    assert any(broker[c] == 4 and r in ("R4", "R5") and not now for r, c, _l, _n, _ch, now in capped)


def test_the_reference_and_the_engine_agree_on_quiet_hours_across_daylight_saving_changes(engine):
    """The sweeps above straddle one change of time; the window arithmetic of the two sides (zoneinfo here,
    PostgreSQL's campaign_quiet_at there) must agree at every half hour around the changes of 2026 in the
    zones the data set uses, and where a window's edge falls in the hour a change skips or repeats."""
    zones = ["America/New_York", "Europe/Madrid", "America/Tijuana", "America/Mexico_City",
             "America/Argentina/Buenos_Aires", "Australia/Lord_Howe", None]  # Lord Howe moves by 30 minutes
    windows = [("21:00", "09:00"), ("15:00", "17:00"), ("02:30", "03:30"), ("01:00", "02:00"), ("23:30", "07:30"),
               ("00:00", "00:00")]
    days = [datetime(2026, m, day, tzinfo=timezone.utc) for m, day in ((3, 7), (3, 28), (4, 4), (10, 3), (10, 24),
                                                                       (10, 31))]
    times = [day + timedelta(minutes=30 * k) for day in days for k in range(3 * 48)]
    got = set(rows(engine, "SELECT z, w, t, campaign_quiet_at(CAST(w AS jsonb), t, z) FROM "
                           "unnest(CAST(:zones AS text[])) z, unnest(CAST(:windows AS text[])) w, "
                           "unnest(CAST(:times AS timestamptz[])) t",
                   zones=zones, windows=[json.dumps({"start": a, "end": b}) for a, b in windows], times=times))
    expected = {(z, json.dumps({"start": a, "end": b}), t, in_quiet_hours({"start": a, "end": b}, t, z))
                for z in zones for a, b in windows for t in times}
    assert_same("quiet hours", got, expected)


# -- engine bugs the comparison found (minimal reproductions) ----------------------------------------------
def _sweep(engine, run_id: str, at: datetime) -> None:
    run_pipeline(engine, Sweep(run_id=run_id, run_at=at), parallel=False)


def test_an_unchanged_bad_row_is_not_read_again_when_its_activity_ages(engine):
    r0, r1 = T0, T0 + timedelta(hours=1)
    add_broker(engine, 9, tz="America/Bogota")
    add_template(engine, 901, broker_id=9, channel="sms")
    add_campaign(engine, broker_id=9, channel="sms", trigger_type="INACTIVITY", trigger_config={"days": 30},
                 steps=[{"action": "send_message", "message_template_id": 901}])
    # a malformed phone; 30 days of inactivity are reached between the two sweeps
    add_lead(engine, 1, broker_id=9, stage="Nuevo", phone="12ab", last_activity_at=r1 - timedelta(days=30, minutes=30))
    _sweep(engine, "bad_row__R0", r0)
    assert rows(engine, "SELECT run_id, reasons FROM lead_rejects") == [("bad_row__R0", ["malformed_phone"])]
    _sweep(engine, "bad_row__R1", r1)  # nothing changed
    assert rows(engine, "SELECT run_id FROM lead_rejects WHERE run_id = 'bad_row__R1'") == []
    assert rows(engine, "SELECT counts->>'leads_staged' FROM pipeline_runs WHERE run_id = 'bad_row__R1'") == [("0",)]


def test_a_deleted_lead_that_was_set_aside_stops_its_enrolment(engine):
    add_broker(engine, 9, tz="America/Bogota")
    add_template(engine, 901, broker_id=9, channel="sms")
    cid = add_campaign(engine, broker_id=9, channel="sms", trigger_type="LEAD_SCORE", trigger_config={"threshold": 50},
                       steps=[{"action": "send_message", "message_template_id": 901},
                              {"action": "send_message", "message_template_id": 901, "delay_hours": 1}])
    add_lead(engine, 1, broker_id=9, stage="Nuevo", score=90, phone="+573001234567")
    _sweep(engine, "deleted__R0", T0)
    assert rows(engine, "SELECT step_number, status FROM campaign_logs") == [(1, "SENT")]
    update_lead(engine, 1, score=150)
    _sweep(engine, "deleted__R1", T0 + timedelta(hours=1))  # set aside: step 2 waits
    assert rows(engine, "SELECT count(*) FROM campaign_logs WHERE run_id = 'deleted__R1'") == [(0,)]
    with engine.begin() as c:
        c.execute(text("DELETE FROM leads WHERE id = 1"))
    _sweep(engine, "deleted__R2", T0 + timedelta(hours=2))  # step 2 is due and the lead is gone
    assert rows(engine, "SELECT step_number, status, reason FROM campaign_logs WHERE run_id = 'deleted__R2'") == [
        (None, "SKIPPED", "lead_not_found")]
    assert rows(engine, "SELECT status FROM campaign_enrolments WHERE campaign_id = :c", c=cid) == [("STOPPED",)]


# -- engine disagreements the comparison found (pinned until fixed) -----------------------------------------
def _night_campaign(engine, max_contacts=None) -> int:
    """A broker in Bogotá, a campaign quiet from 21:00 to 09:00 (a message, another an hour later), a hot lead."""
    add_broker(engine, 9, tz="America/Bogota")
    add_template(engine, 901, broker_id=9, channel="sms")
    cid = add_campaign(engine, broker_id=9, channel="sms", trigger_type="LEAD_SCORE", trigger_config={"threshold": 50},
                       max_contacts=max_contacts, quiet_hours={"start": "21:00", "end": "09:00"},
                       steps=[{"action": "send_message", "message_template_id": 901},
                              {"action": "send_message", "message_template_id": 901, "delay_hours": 1}])
    add_lead(engine, 1, broker_id=9, stage="Nuevo", score=90, phone="+573001234567", timezone="America/Bogota")
    return cid


def test_max_contacts_reached_inside_quiet_hours_is_logged_at_once(engine):
    cid = _night_campaign(engine, max_contacts=1)
    day, night = T0.replace(hour=15), T0.replace(hour=15) + timedelta(hours=12)  # 10:00 and 22:00 in Bogotá
    _sweep(engine, "max_quiet__R0", day)  # step 1 SENT: the limit of 1 is reached
    _sweep(engine, "max_quiet__R1", night)  # step 2 is due, inside the window: max_contacts decides first
    assert rows(engine, "SELECT step_number, status, reason, executed_at FROM campaign_logs "
                        "WHERE run_id = 'max_quiet__R1'") == [(None, "SKIPPED", "max_contacts_reached", night)]
    assert rows(engine, "SELECT status FROM campaign_enrolments WHERE campaign_id = :c", c=cid) == [("STOPPED",)]


def test_an_unknown_time_zone_of_a_set_aside_lead_does_not_fail_the_plan(engine):
    _night_campaign(engine)
    day = T0.replace(hour=15)  # 10:00 in Bogotá
    _sweep(engine, "bad_zone__R0", day)
    update_lead(engine, 1, timezone="Bogotá")  # the CRM's typo: set aside; step 2 must wait
    _sweep(engine, "bad_zone__R1", day + timedelta(hours=1))
    assert rows(engine, "SELECT lead_id, reasons FROM lead_rejects WHERE run_id = 'bad_zone__R1'") == [
        (1, ["unknown_timezone"])]
    assert rows(engine, "SELECT count(*) FROM campaign_logs WHERE run_id = 'bad_zone__R1'") == [(0,)]
