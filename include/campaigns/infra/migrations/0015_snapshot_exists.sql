-- 0015: whether a staged lead had a snapshot when the sweep staged it, so enrol_leads inserts the new snapshots
-- and only probes the existing ones for a difference (an upsert of every staged lead also locks every unchanged
-- snapshot row: a write per lead even when nothing changed).
ALTER TABLE run_leads ADD COLUMN snapshot_exists boolean NOT NULL DEFAULT false;
