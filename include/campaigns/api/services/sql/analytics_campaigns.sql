-- The campaigns of the caller's brokers (optionally one broker, one campaign) with their headline figures.
-- The period [:from, :to] is in days of each campaign's broker time zone, either end open when null:
-- sent / failed / skipped count the logs executed in it; enrolled counts the leads enrolled in it (the cohort),
-- goal_reached and replied count those of the cohort that reached the goal / replied afterwards (at any time).
WITH scope AS (
    SELECT c.id, c.broker_id, b.name AS broker_name, coalesce(b.timezone, 'UTC') AS timezone, c.name, c.channel,
           c.trigger_type, c.status,
           campaign_period_start(CAST(:from AS date), b.timezone) AS t0,
           campaign_period_end(CAST(:to AS date), b.timezone) AS t1
    FROM campaigns c
    LEFT JOIN brokers b ON b.id = c.broker_id
    WHERE c.broker_id = ANY(CAST(:brokers AS bigint[]))
      AND (CAST(:campaign AS bigint) IS NULL OR c.id = CAST(:campaign AS bigint))
)
SELECT s.id, s.broker_id, s.broker_name, s.timezone, s.name, s.channel, s.trigger_type, s.status,
       l.sent, l.failed, l.skipped, e.enrolled, e.goal_reached, e.replied,
       CASE WHEN e.enrolled > 0 THEN round(CAST(e.goal_reached AS numeric) / e.enrolled, 4) END AS conversion_rate,
       CASE WHEN e.enrolled > 0 THEN round(CAST(e.replied AS numeric) / e.enrolled, 4) END AS reply_rate
FROM scope s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'SENT')    AS sent,
           count(*) FILTER (WHERE status = 'FAILED')  AS failed,
           count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
    FROM campaign_logs
    WHERE campaign_id = s.id AND executed_at >= s.t0 AND executed_at < s.t1
) l
CROSS JOIN LATERAL (
    SELECT count(*) AS enrolled,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM campaign_logs g
               WHERE g.campaign_id = e.campaign_id AND g.lead_id = e.lead_id AND g.reason = 'goal_reached'))
               AS goal_reached,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM lead_replies r
               WHERE r.lead_id = e.lead_id AND r.broker_id = e.broker_id AND r.kind = 'reply'
                 AND r.received_at >= e.enrolled_at)) AS replied
    FROM campaign_enrolments e
    WHERE e.campaign_id = s.id AND e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
) e
ORDER BY s.broker_id, s.id
