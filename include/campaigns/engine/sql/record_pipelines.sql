-- The pipelines this sweep's validation used become the reference of the next sweep (a broker whose
-- pipeline differs then is re-read in full). Brokers with no staged lead keep their earlier reference.
WITH used AS (
    SELECT broker_id, pipeline_hash FROM run_pipelines WHERE run_id = :run_id
), dropped AS (
    DELETE FROM pipeline_evaluations e USING used u
    WHERE e.broker_id = u.broker_id AND u.pipeline_hash IS NULL
)
INSERT INTO pipeline_evaluations (broker_id, pipeline_hash, evaluated_at, run_id)
SELECT broker_id, pipeline_hash, :run_at, :run_id FROM used WHERE pipeline_hash IS NOT NULL
ON CONFLICT (broker_id) DO UPDATE
    SET pipeline_hash = excluded.pipeline_hash, evaluated_at = excluded.evaluated_at, run_id = excluded.run_id
