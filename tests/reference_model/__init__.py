"""A plain, obviously-correct evaluation of the contract's behaviour (CONTRACT.md sections 3, 4 and 6).

No SQL, no durable-rules, no Great Expectations, no code shared with the engine: the inputs are Python
lists of dicts (brokers, their pipelines, agents, leads, templates, campaigns with their quiet_hours and
goal, steps, frequency caps) and a list of sweeps, each with the changes the CRM and the admins make
before it. ``simulate`` walks the sweeps one after the other and returns what the database must hold
afterwards: the campaign_logs rows, the enrolments, the stats per campaign, the leads' stages, the
meetings booked and the rows each sweep set aside (and, for data-set guards, which steps quiet hours
deferred, which goals were reached how, and which steps a cap skipped).

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
- per enrolment, before anything (whether a step is due or not) and again before each step: the goal --
  the lead is in one of ``campaign.goal["stages"]`` (moved there by the CRM, or by an update_stage step
  of this run): one SKIPPED goal_reached row with no step number, the enrolment STOPS;
- per step: the lead deleted from the CRM (one SKIPPED lead_not_found row with no step number, the
  enrolment STOPS; its zone is then its broker's, so a contact step due inside quiet hours waits first)
  -> max_contacts (contact steps only: when the SENT send_message/make_call count already equals the
  limit, one SKIPPED max_contacts_reached row with no step number, the enrolment STOPS) -> quiet hours
  (a contact step while the run time is inside [start, end) in the lead's wall-clock time -- its zone,
  else the broker's -- a window across midnight when end <= start: no row, the walk stops there, the
  step stays due and runs, stamped with that run's time, in the first run outside the window; later
  delays count from then; other actions are never deferred) -> a stage the conditions name that is not
  the broker's (FAILED "unknown_stage: ... (in the step's conditions)") -> conditions (SKIPPED
  condition_not_met) -> do_not_contact (contact steps: SKIPPED do_not_contact) -> frequency caps
  (contact steps: a cap of the campaign's broker that covers the step's channel -- its own, or null for
  every channel; make_call is 'voice' -- already counts max_contacts contacts of the lead in the
  broker's campaigns: the SENT ones of earlier runs with executed_at > run time - per_hours, and every
  one this run handed to the provider, even if it refused it; SKIPPED frequency_capped, the step does
  not count towards max_contacts and the walk goes on) -> the action;
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
- an enrolment whose last step ran is COMPLETED; a STOPPED or COMPLETED enrolment's finished_at is the
  run time; stats are the counts of the logs per status; every log row carries the step's channel (the
  max_contacts_reached row too; goal_reached and lead_not_found none).

Between two campaigns of the same lead in the same run the contract fixes no order; this model runs
them campaign by campaign (ascending id), each one's due steps in order. Data sets meant for an exact
comparison must not let one campaign's update_stage change what another campaign of the same lead sees
in the same run (a stage condition, a goal the lead enters or leaves, or a second stage move):
``Result.cross_campaign_stage_effects`` says where they do. Two campaigns of a lead contacting it in
one run see each other's contacts through the caps, so there the order can decide which one gets
through: wherever the caps met contacts of two of a lead's campaigns, the model walks the lead's run
again taking one step of each campaign at a time (ascending id, as an engine that works in waves would),
and ``Result.cross_campaign_cap_order`` says where that ends otherwise. (Ascending id among the first
steps of a run is the one choice both orders share: an exact comparison relies on it.)

``Result.max_contacts_in_quiet_hours`` lists where a run found max_contacts reached for a contact step
due inside quiet hours as the first step it would take (max_contacts comes first: the row is written
then); the engine defers that row to the end of the window (see
tests/integration/test_reference.py::test_max_contacts_reached_inside_quiet_hours_is_logged_at_once).
"""

from tests.reference_model.records import Enrolment, Result, Sweep, Verdict
from tests.reference_model.rules import in_quiet_hours, reject_reasons, stage_problem
from tests.reference_model.simulation import Reference, simulate

__all__ = ["Enrolment", "Reference", "Result", "Sweep", "Verdict", "in_quiet_hours", "reject_reasons", "simulate",
           "stage_problem"]
