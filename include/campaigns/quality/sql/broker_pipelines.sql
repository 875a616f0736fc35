-- The pipelines of the staged leads' brokers, each with the hash of its stage set, read in one statement
-- (the hash recorded for the next sweep is the hash of the stages validation used).
SELECT broker_id, array_agg(stage ORDER BY position, stage) AS stages,
       campaign_pipeline_hash(array_agg(stage)) AS pipeline_hash
FROM pipeline_stages
WHERE broker_id = ANY(:ids)
GROUP BY broker_id
