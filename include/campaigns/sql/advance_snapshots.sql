-- The valid rows of this sweep become the "previous snapshot" of the next one.
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
