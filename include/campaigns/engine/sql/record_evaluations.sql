-- The trigger definitions this sweep evaluated (hash as loaded), stamped with its run time.
INSERT INTO campaign_evaluations (campaign_id, definition_hash, evaluated_at, run_id)
SELECT id, hash, :run_at, :run_id
FROM unnest(CAST(:ids AS bigint[]), CAST(:hashes AS text[])) AS t(id, hash)
WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = t.id)
ON CONFLICT (campaign_id) DO UPDATE
    SET definition_hash = excluded.definition_hash, evaluated_at = excluded.evaluated_at, run_id = excluded.run_id
