-- Which pipeline (hash; null = none) each staged broker's leads were validated against in this run.
INSERT INTO run_pipelines (run_id, broker_id, pipeline_hash)
SELECT :run_id, b, h FROM unnest(CAST(:brokers AS bigint[]), CAST(:hashes AS text[])) AS t(b, h)
ON CONFLICT (run_id, broker_id) DO UPDATE SET pipeline_hash = excluded.pipeline_hash
