-- The staged leads of a run still in play, with only the columns the quality rules read. Read through COPY
-- by psycopg (validate.py: copy_frame), hence its placeholder style.
SELECT lead_id, broker_id, stage, score, email, phone, last_activity_at, timezone
FROM run_leads
WHERE run_id = %(run_id)s
  AND NOT rejected
ORDER BY lead_id
