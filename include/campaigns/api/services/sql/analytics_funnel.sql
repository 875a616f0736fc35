-- One campaign's steps, in order, with the SENT / FAILED / SKIPPED logs of each in the period (days in :tz).
SELECT s.step_number, s.action, s.delay_hours,
       count(l.status) FILTER (WHERE l.status = 'SENT')    AS sent,
       count(l.status) FILTER (WHERE l.status = 'FAILED')  AS failed,
       count(l.status) FILTER (WHERE l.status = 'SKIPPED') AS skipped
FROM campaign_steps s
LEFT JOIN campaign_logs l
    ON l.campaign_id = s.campaign_id AND l.step_number = s.step_number
   AND l.executed_at >= campaign_period_start(CAST(:from AS date), :tz)
   AND l.executed_at < campaign_period_end(CAST(:to AS date), :tz)
WHERE s.campaign_id = :campaign
GROUP BY s.step_number, s.action, s.delay_hours
ORDER BY s.step_number
