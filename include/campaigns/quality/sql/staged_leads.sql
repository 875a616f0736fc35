-- One batch of a run's staged leads still in play (the next ones after a lead id: keyset on the primary key),
-- with only the columns the quality rules read. Read through COPY by psycopg (validate.py: copy_frame), hence
-- its placeholder style.
SELECT lead_id, broker_id, stage, score, email, phone, last_activity_at, timezone
FROM run_leads
WHERE run_id = %(run_id)s
  AND NOT rejected
  AND lead_id > %(after_lead_id)s
ORDER BY lead_id
LIMIT %(batch_rows)s
