-- One campaign's logs per day of its broker's time zone, every day of the period (zeros included): from :from
-- (else its first log's day) to :to (else its last log's day).
WITH bounds AS (
    SELECT campaign_period_start(CAST(:from AS date), :tz) AS t0,
           campaign_period_end(CAST(:to AS date), :tz) AS t1
), per_day AS (
    SELECT campaign_local_day(l.executed_at, :tz) AS day,
           count(*) FILTER (WHERE l.status = 'SENT')    AS sent,
           count(*) FILTER (WHERE l.status = 'FAILED')  AS failed,
           count(*) FILTER (WHERE l.status = 'SKIPPED') AS skipped
    FROM campaign_logs l, bounds
    WHERE l.campaign_id = :campaign AND l.executed_at >= bounds.t0 AND l.executed_at < bounds.t1
    GROUP BY 1
), days AS (
    SELECT CAST(d AS date) AS day
    FROM generate_series(coalesce(CAST(:from AS date), (SELECT min(day) FROM per_day)),
                         coalesce(CAST(:to AS date), (SELECT max(day) FROM per_day)), interval '1 day') AS d
)
SELECT days.day, coalesce(p.sent, 0) AS sent, coalesce(p.failed, 0) AS failed, coalesce(p.skipped, 0) AS skipped
FROM days
LEFT JOIN per_day p ON p.day = days.day
ORDER BY days.day
