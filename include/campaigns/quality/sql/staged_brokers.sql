-- A run's staged leads still in play, counted per broker (null = a lead without one): how many are validated
-- and whose pipelines they are validated against, in one scan.
SELECT broker_id, count(*) AS leads
FROM run_leads
WHERE run_id = :run_id AND NOT rejected
GROUP BY broker_id
