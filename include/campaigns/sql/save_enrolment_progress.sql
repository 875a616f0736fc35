-- Move each enrolment's cursor past the steps this chunk executed.
UPDATE campaign_enrolments e
SET last_step_number = p.last_step_number,
    last_step_at = p.last_step_at,
    contacts_made = p.contacts_made,
    status = t.status,
    finished_at = CASE WHEN t.status <> 'ACTIVE' THEN CAST(:run_at AS timestamptz) END
FROM enrolment_progress p
-- A step appended while this chunk ran keeps a "completed" enrolment running.
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.status = 'COMPLETED' AND EXISTS (
                    SELECT 1 FROM campaign_steps s
                    WHERE s.campaign_id = p.campaign_id AND s.step_number > p.last_step_number)
                THEN 'ACTIVE' ELSE p.status END AS status
) t
WHERE e.campaign_id = p.campaign_id AND e.lead_id = p.lead_id
