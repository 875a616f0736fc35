-- One campaign's delivery statuses per channel (what the providers' receipts said), for the messages sent in
-- the period (days in :tz; a message still being requested counts at its last update).
SELECT d.channel, d.status, count(*) AS messages
FROM message_deliveries d
WHERE d.campaign_id = :campaign
  AND coalesce(d.sent_at, d.updated_at)
      >= campaign_period_start(CAST(:from AS date), :tz)
  AND coalesce(d.sent_at, d.updated_at)
      < campaign_period_end(CAST(:to AS date), :tz)
GROUP BY d.channel, d.status
ORDER BY d.channel, count(*) DESC, d.status
