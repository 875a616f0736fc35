-- Stage the run's leads (all of them in a sweep, one in apply mode) with the stage of their last snapshot.
INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, email, phone, stage, score, last_activity_at,
                       assigned_agent_id, do_not_contact, timezone, updated_at, prev_stage, is_new)
SELECT :run_id, l.id, l.broker_id, l.full_name, l.email, l.phone, l.stage, l.score, l.last_activity_at,
       l.assigned_agent_id, l.do_not_contact, l.timezone, l.updated_at, s.stage, s.lead_id IS NULL
FROM leads l
LEFT JOIN lead_snapshots s ON s.lead_id = l.id
WHERE CAST(:lead_id AS bigint) IS NULL OR l.id = CAST(:lead_id AS bigint)
