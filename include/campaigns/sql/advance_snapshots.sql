-- The valid rows of this sweep become the "previous snapshot" of the next one
-- (a row identical to its snapshot is not rewritten).
INSERT INTO lead_snapshots (lead_id, broker_id, stage, score, last_activity_at, updated_at, email, phone,
                            captured_at, run_id)
SELECT lead_id, broker_id, stage, score, last_activity_at, updated_at, email, phone, :run_at, :run_id
FROM run_leads
WHERE run_id = :run_id AND NOT rejected
ON CONFLICT (lead_id) DO UPDATE
    SET broker_id = excluded.broker_id,
        stage = excluded.stage,
        score = excluded.score,
        last_activity_at = excluded.last_activity_at,
        updated_at = excluded.updated_at,
        email = excluded.email,
        phone = excluded.phone,
        captured_at = excluded.captured_at,
        run_id = excluded.run_id
    WHERE (lead_snapshots.broker_id, lead_snapshots.stage, lead_snapshots.score, lead_snapshots.last_activity_at,
           lead_snapshots.updated_at, lead_snapshots.email, lead_snapshots.phone)
          IS DISTINCT FROM (excluded.broker_id, excluded.stage, excluded.score, excluded.last_activity_at,
                            excluded.updated_at, excluded.email, excluded.phone)
