-- What this sweep read of each staged lead without a snapshot becomes its snapshot (valid or set aside, with its
-- reasons; `valid_stage` only for a valid row). One written since staging (an overlapping sweep, this task's
-- earlier try) is left to update_snapshots.sql, which runs next.
INSERT INTO lead_snapshots AS s (lead_id, broker_id, stage, score, last_activity_at, updated_at, email, phone,
                                 timezone, valid_stage, rejected, reject_reasons, recheck_at, captured_at, run_id)
SELECT r.lead_id, r.broker_id, r.stage, r.score, r.last_activity_at, r.updated_at, r.email, r.phone, r.timezone,
       CASE WHEN r.rejected THEN NULL ELSE r.stage END, r.rejected, j.reasons,
       CASE WHEN r.rejected AND r.last_activity_at > CAST(:run_at AS timestamptz) THEN r.last_activity_at END,
       :run_at, :run_id
FROM run_leads r
LEFT JOIN lead_rejects j ON j.run_id = r.run_id AND j.lead_id = r.lead_id
WHERE r.run_id = :run_id
  AND NOT r.snapshot_exists
ON CONFLICT (lead_id) DO NOTHING
