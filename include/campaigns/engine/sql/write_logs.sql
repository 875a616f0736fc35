-- Insert a batch of log rows once, and add exactly the inserted ones to campaign_stats.
-- First as a plain insert (no speculative insertion per row); after a unique violation, in a savepoint, the batch
-- is inserted again with ON CONFLICT DO NOTHING, and only the rows not logged yet go in (logs.py).
WITH inserted AS (
    INSERT INTO campaign_logs (campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id,
                               channel, broker_id)
    SELECT campaign_id, lead_id, step_number, action, status, reason, executed_at, run_id, channel, broker_id
    FROM log_batch
    {{ on_conflict }}
    RETURNING campaign_id, status
), per_campaign AS (
    SELECT campaign_id,
           count(*) FILTER (WHERE status = 'SENT')    AS sent,
           count(*) FILTER (WHERE status = 'FAILED')  AS failed,
           count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
    FROM inserted
    GROUP BY campaign_id
), stats AS (
    INSERT INTO campaign_stats AS s (campaign_id, sent, failed, skipped, updated_at)
    SELECT campaign_id, sent, failed, skipped, :updated_at FROM per_campaign
    ON CONFLICT (campaign_id) DO UPDATE
        SET sent = s.sent + excluded.sent,
            failed = s.failed + excluded.failed,
            skipped = s.skipped + excluded.skipped,
            updated_at = excluded.updated_at
    RETURNING 1
)
SELECT coalesce(sum(sent), 0), coalesce(sum(failed), 0), coalesce(sum(skipped), 0) FROM per_campaign
