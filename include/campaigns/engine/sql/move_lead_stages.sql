-- Move each lead to the last stage its steps chose in this chunk (the CRM sees the move as an update).
UPDATE leads l
SET stage = v.stage, updated_at = :run_at
FROM unnest(CAST(:ids AS bigint[]), CAST(:stages AS text[])) AS v(id, stage)
WHERE l.id = v.id
