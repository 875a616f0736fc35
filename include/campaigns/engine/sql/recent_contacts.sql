-- The chunk's leads' SENT contacts within the longest frequency-cap window of their brokers: what the
-- caps count, across every campaign of the broker.
SELECT l.lead_id, l.channel, l.executed_at
FROM campaign_logs l
WHERE l.lead_id = ANY(CAST(:lead_ids AS bigint[]))
  AND l.status = 'SENT'
  AND l.action IN ({{ contact_actions }})
  AND l.executed_at > CAST(:run_at AS timestamptz) - CAST(:hours AS int) * interval '1 hour'
  AND l.executed_at <= CAST(:run_at AS timestamptz)
