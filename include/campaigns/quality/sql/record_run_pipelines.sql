-- Which pipeline (hash; null = none) each staged broker's leads are validated against in this run, for the
-- sweep to compare with the next time (a broker whose pipeline changed is validated again).
INSERT INTO run_pipelines (run_id, broker_id, pipeline_hash)
SELECT :run_id, s.broker_id, p.pipeline_hash
FROM unnest(CAST(:brokers AS bigint[])) AS s(broker_id)
LEFT JOIN (SELECT broker_id, campaign_pipeline_hash(array_agg(stage)) AS pipeline_hash
           FROM pipeline_stages GROUP BY broker_id) p ON p.broker_id = s.broker_id
ON CONFLICT (run_id, broker_id) DO UPDATE SET pipeline_hash = excluded.pipeline_hash
