-- The staged leads of a run still in play, with only the columns the quality rules read.
SELECT lead_id, broker_id, stage, score, email, phone, last_activity_at, timezone
FROM run_leads
WHERE run_id = :run_id
  AND NOT rejected
ORDER BY lead_id
