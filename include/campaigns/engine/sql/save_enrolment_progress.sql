-- Move each enrolment's cursor past the steps this chunk executed; an enrolment an engine error set
-- aside keeps its cursor before the failed step, with the error.
UPDATE campaign_enrolments e
SET last_step_number = p.last_step_number,
    last_step_at = p.last_step_at,
    contacts_made = p.contacts_made,
    status = t.status,
    finished_at = CASE WHEN t.status IN ('COMPLETED', 'STOPPED') THEN CAST(:run_at AS timestamptz) END,
    error = p.error,
    error_step = p.error_step,
    error_at = CASE WHEN p.error IS NOT NULL THEN CAST(:run_at AS timestamptz) END,
    error_run_id = CASE WHEN p.error IS NOT NULL THEN CAST(:run_id AS text) END
FROM enrolment_progress p
-- A step appended while this chunk ran keeps a "completed" enrolment running.
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.status = 'COMPLETED' AND EXISTS (
                    SELECT 1 FROM campaign_steps s
                    WHERE s.campaign_id = p.campaign_id AND s.step_number > p.last_step_number)
                THEN 'ACTIVE' ELSE p.status END AS status
) t
WHERE e.campaign_id = p.campaign_id AND e.lead_id = p.lead_id
