-- What this sweep read of each staged lead becomes the snapshot the next sweep compares with, valid or
-- set aside (with its reasons; `valid_stage` only moves for a valid row). A row identical to its
-- snapshot is not rewritten.
INSERT INTO lead_snapshots AS s (lead_id, broker_id, stage, score, last_activity_at, updated_at, email, phone,
                                 timezone, valid_stage, rejected, reject_reasons, recheck_at, captured_at, run_id)
SELECT r.lead_id, r.broker_id, r.stage, r.score, r.last_activity_at, r.updated_at, r.email, r.phone, r.timezone,
       CASE WHEN r.rejected THEN NULL ELSE r.stage END, r.rejected, j.reasons,
       CASE WHEN r.rejected AND r.last_activity_at > CAST(:run_at AS timestamptz) THEN r.last_activity_at END,
       :run_at, :run_id
FROM run_leads r
LEFT JOIN lead_rejects j ON j.run_id = r.run_id AND j.lead_id = r.lead_id
WHERE r.run_id = :run_id
ON CONFLICT (lead_id) DO UPDATE
    SET broker_id = excluded.broker_id,
        stage = excluded.stage,
        score = excluded.score,
        last_activity_at = excluded.last_activity_at,
        updated_at = excluded.updated_at,
        email = excluded.email,
        phone = excluded.phone,
        timezone = excluded.timezone,
        valid_stage = CASE WHEN excluded.rejected THEN s.valid_stage ELSE excluded.valid_stage END,
        rejected = excluded.rejected,
        reject_reasons = excluded.reject_reasons,
        recheck_at = excluded.recheck_at,
        captured_at = excluded.captured_at,
        run_id = excluded.run_id
    WHERE (s.broker_id, s.stage, s.score, s.last_activity_at, s.updated_at, s.email, s.phone, s.timezone,
           s.rejected, s.reject_reasons, s.recheck_at)
          IS DISTINCT FROM (excluded.broker_id, excluded.stage, excluded.score, excluded.last_activity_at,
                            excluded.updated_at, excluded.email, excluded.phone, excluded.timezone,
                            excluded.rejected, excluded.reject_reasons, excluded.recheck_at)
