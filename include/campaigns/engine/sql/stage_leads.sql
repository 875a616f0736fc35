-- Stage leads of this run, with the stage they had at the last sweep that found them valid. Run twice by
-- snapshot.py, with the fragments below:
--   * the wanted leads: those wanted_leads.sql put in tmp_wanted_leads (apply mode: its one lead);
--   * the changed leads: those written since the last sweep (the change feed, migration 0014, as read for this
--     run by read_lead_changes.sql) that are new or differ from their snapshot in anything the triggers or
--     validation read (the snapshot holds what the last sweep read of every lead, valid or set aside: an
--     unchanged bad row is not read again) -- compared and staged in one read of each lead and snapshot --
--     unless already staged as wanted (the primary key of run_leads says which).
-- In lead order: the primary key of run_leads then grows at its right edge (PostgreSQL's fast path for
-- ascending keys) instead of splitting pages all over the index.
INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, email, phone, stage, score, last_activity_at,
                       assigned_agent_id, do_not_contact, timezone, updated_at, prev_stage, is_new, snapshot_exists)
SELECT :run_id, l.id, l.broker_id, l.full_name, l.email, l.phone, l.stage, l.score, l.last_activity_at,
       l.assigned_agent_id, l.do_not_contact, l.timezone, l.updated_at, s.valid_stage, s.valid_stage IS NULL,
       s.lead_id IS NOT NULL
FROM {{ lead_ids }} w
JOIN leads l ON l.id = w.lead_id
LEFT JOIN lead_snapshots s ON s.lead_id = l.id
WHERE {{ condition }}
ORDER BY l.id
{{ already_staged }}
