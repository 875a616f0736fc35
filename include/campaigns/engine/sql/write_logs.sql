-- A batch of log rows (COPYed into log_batch) of which some were logged before: only the others go in, and come
-- back to be added to campaign_stats (logs.py; a batch with none logged before is COPYed straight in).
INSERT INTO campaign_logs (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id,
                           channel, broker_id)
SELECT campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, channel, broker_id
FROM log_batch
ON CONFLICT DO NOTHING
RETURNING campaign_id, status
