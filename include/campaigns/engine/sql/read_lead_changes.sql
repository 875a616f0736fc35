-- The change rows this sweep stages from: those committed now, with their lead. Rows committed later stay for
-- the next sweep; enrol_leads deletes these (consume_lead_changes.sql) once the snapshots have advanced.
-- snapshot.py emptied the run's rows first, so a retried task inserts each row once.
INSERT INTO run_lead_changes (run_id, change_id, lead_id)
SELECT :run_id, change_id, lead_id FROM lead_changes
