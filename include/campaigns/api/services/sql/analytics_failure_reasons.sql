-- One campaign's FAILED and SKIPPED logs in the period (days in :tz) per step (null: campaign-level entries)
-- and reason, the most frequent first.
SELECT l.step_number, l.action, l.status, l.reason, count(*) AS count
FROM campaign_logs l
WHERE l.campaign_id = :campaign AND l.status IN ('FAILED', 'SKIPPED')
  AND l.executed_at >= campaign_period_start(CAST(:from AS date), :tz)
  AND l.executed_at < campaign_period_end(CAST(:to AS date), :tz)
GROUP BY l.step_number, l.action, l.status, l.reason
ORDER BY count(*) DESC, l.step_number NULLS FIRST, l.status, l.reason
