"""The vocabulary of the contract, in one place."""

from __future__ import annotations

STAGES = ("new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost")
CHANNELS = ("whatsapp", "sms", "email")
TRIGGER_TYPES = ("LEAD_SCORE", "STAGE_CHANGE", "INACTIVITY", "MANUAL")
AUTOMATIC_TRIGGERS = ("LEAD_SCORE", "STAGE_CHANGE", "INACTIVITY")
CAMPAIGN_STATUSES = ("DRAFT", "ACTIVE", "PAUSED", "ARCHIVED")
ACTIONS = ("send_message", "make_call", "schedule_meeting", "update_stage")
CONTACT_ACTIONS = ("send_message", "make_call")  # what max_contacts counts
LOG_STATUSES = ("SENT", "FAILED", "SKIPPED")

# Reasons written to campaign_logs.reason
TRIGGER_NOT_MET = "trigger_not_met"
ALREADY_ENROLLED = "already_enrolled"
MAX_CONTACTS_REACHED = "max_contacts_reached"
CONDITION_NOT_MET = "condition_not_met"
DO_NOT_CONTACT = "do_not_contact"
LEAD_REJECTED = "lead_rejected"  # apply-to-lead on a lead that validation set aside
