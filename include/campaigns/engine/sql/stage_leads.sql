-- Stage the leads this run looks at (tmp_wanted_leads, wanted_leads.sql), with the stage they had at the last
-- sweep that found them valid. In lead order: the primary key of run_leads then grows at its right edge
-- (PostgreSQL's fast path for ascending keys) instead of splitting pages all over the index.
INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, email, phone, stage, score, last_activity_at,
                       assigned_agent_id, do_not_contact, timezone, updated_at, prev_stage, is_new, snapshot_exists)
SELECT :run_id, l.id, l.broker_id, l.full_name, l.email, l.phone, l.stage, l.score, l.last_activity_at,
       l.assigned_agent_id, l.do_not_contact, l.timezone, l.updated_at, s.valid_stage, s.valid_stage IS NULL,
       s.lead_id IS NOT NULL
FROM tmp_wanted_leads w
JOIN leads l ON l.id = w.lead_id
LEFT JOIN lead_snapshots s ON s.lead_id = l.id
ORDER BY l.id
