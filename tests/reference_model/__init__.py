"""A plain, obviously-correct evaluation of the contract's behaviour (CONTRACT.md sections 3 and 4).

No SQL, no durable-rules, no Great Expectations, no code shared with the engine: the inputs are Python
lists of dicts (brokers, their pipelines, agents, leads, templates, campaigns, steps) and a list of sweeps,
each with the changes the CRM and the admins make before it. ``simulate`` walks the sweeps one after the
other and returns what the database must hold afterwards: the campaign_logs rows, the enrolments, the
stats per campaign, the leads' stages, the meetings booked and the rows each sweep set aside.

It models the contract plus the choices the README documents where the contract is silent:

- pipelines: a broker's stages are its own (broker_id -> stages in pipeline order); a broker with none
  accepts every non-empty stage. There is no built-in list;
- validation (reasons, sorted): score_missing, score_out_of_range (0..100), stage_missing (blank),
  unknown_stage (not in the broker's pipeline, when it has one), malformed_email, malformed_phone (E.164),
  activity_in_future (after the run time), unknown_timezone (not an IANA name; null is fine);
- a lead row set aside is remembered: a sweep reads (validates) a lead only when it is new, when one of
  broker_id, stage, score, last_activity_at, email, phone, timezone differs from what the last reading
  saw (updated_at does not count), when its broker's pipeline differs from the one that reading used, or
  when it was set aside for activity in the future and that time has come. Otherwise its last verdict
  stands: an unchanged bad row is not read again (it is not among that sweep's rejects) and an enrolled
  lead whose verdict is "set aside" waits: its due steps run once it is valid again (a lead the CRM
  deleted is no row to set aside: its next due step logs lead_not_found);
- triggers (sweep), for the leads found valid: LEAD_SCORE score > threshold; STAGE_CHANGE the stage
  differs from the previous stage and equals to_stage, the previous stage being the stage at the last
  sweep that found the lead valid (a lead never found valid before has none and does not trigger);
  INACTIVITY run time - last_activity_at >= days (never active: no); MANUAL never; only ACTIVE campaigns
  of the lead's broker; a (campaign, lead) pair is enrolled once, ever, at the run time;
- the previous stage the next sweep compares with is the stage of each valid lead when this sweep
  started (a stage moved by an update_stage step is a change for the next sweep);
- step k is due at (time step k-1 ran, or the enrolment time) + delay_hours of step k; a run executes
  every due step, so after the first one only zero-delay steps follow; every log row is stamped with
  the run time; only ACTIVE enrolments of ACTIVE campaigns run;
- per step: the lead deleted from the CRM (one SKIPPED lead_not_found row with no step number, the
  enrolment STOPS) -> max_contacts (contact steps only: when the SENT send_message/make_call count
  already equals the limit, one SKIPPED max_contacts_reached row with no step number, the enrolment
  STOPS) -> a stage the conditions name that is not the broker's (FAILED "unknown_stage: ... (in the
  step's conditions)") -> conditions (SKIPPED condition_not_met) -> do_not_contact (contact steps:
  SKIPPED do_not_contact) -> the action;
- send_message: the template must exist, belong to the campaign's broker (template_not_found), be
  active (template_inactive) and be of the campaign's channel (template_channel_mismatch); then the
  lead needs an address for the channel (no_email_address / no_phone_number); then the sandboxed Jinja
  render (render_error); then the (sandbox) provider, which refuses +1500555... numbers ("unreachable
  number") and e-mail at .invalid domains ("mailbox unavailable"): FAILED "provider_error: <why>";
- make_call: a phone first (no_phone_number), then the optional script template (exists/broker,
  active, channel voice: template_channel_mismatch), then the provider on the lead's phone;
- schedule_meeting: SENT, or FAILED no_assigned_agent; update_stage: SENT and the lead moves, or FAILED
  "unknown_stage: ..." when config.stage is blank or not in the broker's pipeline (the pipeline as it is
  at the run);
- an enrolment whose last step ran is COMPLETED; stats are the counts of the logs per status.

Between two campaigns of the same lead in the same run the contract fixes no order; this model runs
them campaign by campaign (ascending id). Data sets meant for an exact comparison must not let one
campaign's update_stage change what another campaign of the same lead sees in the same run (a stage
condition, or a second stage move); ``Result.cross_campaign_stage_effects`` says where they do.
"""

from tests.reference_model.rules import reject_reasons, stage_problem
from tests.reference_model.simulation import Enrolment, Reference, Result, Sweep, Verdict, simulate

__all__ = ["Enrolment", "Reference", "Result", "Sweep", "Verdict", "reject_reasons", "simulate", "stage_problem"]
