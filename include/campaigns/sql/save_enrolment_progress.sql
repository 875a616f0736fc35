-- Move each enrolment's cursor past the steps this chunk executed.
UPDATE campaign_enrolments e
SET last_step_number = p.last_step_number,
    last_step_at = p.last_step_at,
    contacts_made = p.contacts_made,
    status = p.status,
    finished_at = CASE WHEN p.status <> 'ACTIVE' THEN CAST(:run_at AS timestamptz) END
FROM enrolment_progress p
WHERE e.campaign_id = p.campaign_id AND e.lead_id = p.lead_id
