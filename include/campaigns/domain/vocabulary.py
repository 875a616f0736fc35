"""The contract's words, in one place. Trigger types and actions are registries of their own
(``include/campaigns/triggers/``, ``include/campaigns/engine/actions/``); stages are each broker's own
(``pipeline_stages``), so there is no list of them here."""

from __future__ import annotations

CHANNELS = ("whatsapp", "sms", "email")  # what a campaign sends on
VOICE = "voice"  # make_call's channel
DELIVERY_CHANNELS = (*CHANNELS, VOICE)  # every channel an adapter serves
CAMPAIGN_STATUSES = ("DRAFT", "ACTIVE", "PAUSED", "ARCHIVED")
LOG_STATUSES = ("SENT", "FAILED", "SKIPPED")
ENROLMENT_STATUSES = ("ACTIVE", "COMPLETED", "STOPPED", "ERROR")  # ERROR: set aside by an engine error

# Reasons written to campaign_logs.reason
TRIGGER_NOT_MET = "trigger_not_met"
ALREADY_ENROLLED = "already_enrolled"
MAX_CONTACTS_REACHED = "max_contacts_reached"
CONDITION_NOT_MET = "condition_not_met"
DO_NOT_CONTACT = "do_not_contact"
UNKNOWN_STAGE = "unknown_stage"
LEAD_REJECTED = "lead_rejected"  # apply-to-lead on a lead that validation set aside
LEAD_NOT_FOUND = "lead_not_found"  # an enrolled lead the CRM deleted
GOAL_REACHED = "goal_reached"  # the lead reached a goal stage of the campaign: its enrolment ends
FREQUENCY_CAPPED = "frequency_capped"  # the broker's frequency cap for the channel is used up: skipped, goes on
LEAD_REPLIED = "lead_replied"  # the lead answered: its active enrolments end
