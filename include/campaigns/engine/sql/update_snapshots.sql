-- What this sweep read of each staged lead replaces its snapshot, only where it differs: an unchanged row is
-- neither rewritten nor locked (`valid_stage` only moves for a valid row). Runs after insert_snapshots.sql, so
-- it also covers a snapshot another sweep wrote after this one staged the lead.
UPDATE lead_snapshots s
SET broker_id = n.broker_id,
    stage = n.stage,
    score = n.score,
    last_activity_at = n.last_activity_at,
    updated_at = n.updated_at,
    email = n.email,
    phone = n.phone,
    timezone = n.timezone,
    valid_stage = CASE WHEN n.rejected THEN s.valid_stage ELSE n.stage END,
    rejected = n.rejected,
    reject_reasons = n.reasons,
    recheck_at = n.recheck_at,
    captured_at = :run_at,
    run_id = :run_id
FROM (
    SELECT r.lead_id, r.broker_id, r.stage, r.score, r.last_activity_at, r.updated_at, r.email, r.phone,
           r.timezone, r.rejected,
           CASE WHEN r.rejected  -- only a rejected row has reasons: no look-up for the valid ones
                THEN (SELECT j.reasons FROM lead_rejects j WHERE j.run_id = r.run_id AND j.lead_id = r.lead_id)
           END AS reasons,
           CASE WHEN r.rejected AND r.last_activity_at > CAST(:run_at AS timestamptz) THEN r.last_activity_at END
               AS recheck_at
    FROM run_leads r
    WHERE r.run_id = :run_id
) n
WHERE s.lead_id = n.lead_id
  AND (s.broker_id, s.stage, s.score, s.last_activity_at, s.updated_at, s.email, s.phone, s.timezone,
       s.rejected, s.reject_reasons, s.recheck_at)
      IS DISTINCT FROM (n.broker_id, n.stage, n.score, n.last_activity_at, n.updated_at, n.email, n.phone,
                        n.timezone, n.rejected, n.reasons, n.recheck_at)
