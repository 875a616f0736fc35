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
),
-- the cohort, one pass over the scope's enrolments (all time: the primary key alone)
cohort AS (
    SELECT e.campaign_id, count(*) AS enrolled
    FROM scope s
    JOIN campaign_enrolments e ON e.campaign_id = s.id
    WHERE CAST(:from AS date) IS NULL AND CAST(:to AS date) IS NULL OR e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
    GROUP BY e.campaign_id
),
-- from the goal stops (one per lead) to their enrolments
goals AS (
    SELECT g.campaign_id, count(*) AS goal_reached
    FROM scope s
    JOIN campaign_logs g ON g.campaign_id = s.id AND g.reason = 'goal_reached'
    JOIN campaign_enrolments e ON e.campaign_id = g.campaign_id AND e.lead_id = g.lead_id
    WHERE e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
    GROUP BY g.campaign_id
),
-- from the brokers' replies to the enrolments they came after
replies AS (
    SELECT e.campaign_id, count(DISTINCT e.lead_id) AS replied
    FROM scope s
    JOIN lead_replies r ON r.broker_id = s.broker_id AND r.kind = 'reply'
    JOIN campaign_enrolments e ON e.campaign_id = s.id AND e.lead_id = r.lead_id
    WHERE r.received_at >= e.enrolled_at AND e.enrolled_at >= s.t0 AND e.enrolled_at < s.t1
    GROUP BY e.campaign_id
)
SELECT s.id, s.broker_id, s.broker_name, s.timezone, s.name, s.channel, s.trigger_type, s.status,
       coalesce(l.sent, st.sent, 0) AS sent, coalesce(l.failed, st.failed, 0) AS failed,
       coalesce(l.skipped, st.skipped, 0) AS skipped, coalesce(e.enrolled, 0) AS enrolled,
       coalesce(g.goal_reached, 0) AS goal_reached, coalesce(r.replied, 0) AS replied,
       CASE WHEN e.enrolled > 0 THEN round(CAST(coalesce(g.goal_reached, 0) AS numeric) / e.enrolled, 4) END
           AS conversion_rate,
       CASE WHEN e.enrolled > 0 THEN round(CAST(coalesce(r.replied, 0) AS numeric) / e.enrolled, 4) END AS reply_rate
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
LEFT JOIN cohort e ON e.campaign_id = s.id
LEFT JOIN goals g ON g.campaign_id = s.id
LEFT JOIN replies r ON r.campaign_id = s.id
ORDER BY s.broker_id, s.id
