-- The campaigns of the caller's brokers (optionally one broker, one campaign) with their headline figures.
-- The period [:from, :to] is in days of each campaign's broker time zone, either end open when null:
-- sent / failed / skipped count the logs executed in it; enrolled counts the leads enrolled in it (the cohort),
-- goal_reached and replied count those of the cohort that reached the goal / replied afterwards (at any time).
-- For all time (both ends open) the log counts are campaign_stats, which the engine keeps equal to the logs in
-- the same statement that writes them: the list of every campaign then reads no log row.
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
       coalesce(l.sent, st.sent, 0) AS sent, coalesce(l.failed, st.failed, 0) AS failed,
       coalesce(l.skipped, st.skipped, 0) AS skipped, e.enrolled, g.goal_reached, r.replied,
       CASE WHEN e.enrolled > 0 THEN round(CAST(g.goal_reached AS numeric) / e.enrolled, 4) END AS conversion_rate,
       CASE WHEN e.enrolled > 0 THEN round(CAST(r.replied AS numeric) / e.enrolled, 4) END AS reply_rate
FROM scope s
LEFT JOIN campaign_stats st ON st.campaign_id = s.id AND CAST(:from AS date) IS NULL AND CAST(:to AS date) IS NULL
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'SENT')    AS sent,
           count(*) FILTER (WHERE status = 'FAILED')  AS failed,
           count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
    FROM campaign_logs
    WHERE campaign_id = s.id AND executed_at >= s.t0 AND executed_at < s.t1
      AND (CAST(:from AS date) IS NOT NULL OR CAST(:to AS date) IS NOT NULL)
    HAVING CAST(:from AS date) IS NOT NULL OR CAST(:to AS date) IS NOT NULL  -- all time: no row, campaign_stats
) l ON true
CROSS JOIN LATERAL (
    SELECT count(*) AS enrolled
    FROM campaign_enrolments e
    WHERE e.campaign_id = s.id AND e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
) e
CROSS JOIN LATERAL (
    SELECT count(*) AS goal_reached
    FROM campaign_logs g
    JOIN campaign_enrolments e ON e.campaign_id = g.campaign_id AND e.lead_id = g.lead_id
    WHERE g.campaign_id = s.id AND g.reason = 'goal_reached' AND e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
) g
CROSS JOIN LATERAL (
    SELECT count(DISTINCT e.lead_id) AS replied
    FROM lead_replies r
    JOIN campaign_enrolments e ON e.lead_id = r.lead_id AND e.broker_id = r.broker_id
    WHERE e.campaign_id = s.id AND r.kind = 'reply' AND r.received_at >= e.enrolled_at
      AND e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
) r
ORDER BY s.broker_id, s.id
