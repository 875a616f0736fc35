-- 0022 (issue 14): one index of a lead's log instead of two. `lead_idx` (lead_id) and the partial
-- `lead_sent_idx` (lead_id, executed_at) WHERE status = 'SENT' each cost a log row an insertion at a random
-- place of a big tree (~3 us a row, a twentieth of an executed step). (lead_id, executed_at) answers both: a
-- lead's history by its first column, the frequency caps' recent SENT contacts by lead and time range (the
-- status is checked on the few rows of that range).
-- IF NOT EXISTS: on a big log the index may have been built CONCURRENTLY by hand first (docs/production.md).
CREATE INDEX IF NOT EXISTS campaign_logs_lead_time_idx ON campaign_logs (lead_id, executed_at);
DROP INDEX IF EXISTS campaign_logs_lead_idx;
DROP INDEX IF EXISTS campaign_logs_lead_sent_idx;
