-- Add the log rows a batch inserted, counted per campaign, to campaign_stats (in the transaction of the insert).
-- In campaign order: two chunks adding to the same campaigns lock their rows in the same order.
INSERT INTO campaign_stats AS s (campaign_id, sent, failed, skipped, updated_at)
SELECT n.campaign_id, n.sent, n.failed, n.skipped, :updated_at
FROM unnest(CAST(:campaign_ids AS bigint[]), CAST(:sent AS int[]), CAST(:failed AS int[]),
            CAST(:skipped AS int[])) AS n (campaign_id, sent, failed, skipped)
ORDER BY n.campaign_id
ON CONFLICT (campaign_id) DO UPDATE
    SET sent = s.sent + excluded.sent,
        failed = s.failed + excluded.failed,
        skipped = s.skipped + excluded.skipped,
        updated_at = excluded.updated_at
