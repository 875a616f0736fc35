-- 0020 (issue 14): each change row a sweep read carries its lead, so staging finds the run's changed leads in
-- run_lead_changes alone instead of joining each row back to lead_changes (read_lead_changes.sql copies it).
ALTER TABLE run_lead_changes ADD COLUMN lead_id bigint;
UPDATE run_lead_changes r SET lead_id = c.lead_id FROM lead_changes c WHERE c.change_id = r.change_id;
-- a row whose change is gone was consumed already: nothing is left to stage or delete for it
DELETE FROM run_lead_changes WHERE lead_id IS NULL;
ALTER TABLE run_lead_changes ALTER COLUMN lead_id SET NOT NULL;
