-- The change rows this sweep stages from: those committed now. Rows committed later stay for the next sweep;
-- enrol_leads deletes these (consume_lead_changes.sql) once the snapshots have advanced.
INSERT INTO run_lead_changes (run_id, change_id)
SELECT :run_id, change_id FROM lead_changes
ON CONFLICT DO NOTHING
