-- 0013: what analysts read (CONTRACT §8): the views, the index that keeps them fast, and the read-only
-- group role campaigns_analyst. Columns are documented one by one in docs/analytics.md.

-- Log rows of contact steps written before the engine carried the channel on every row get it now:
-- send_message speaks on the campaign's channel, make_call on voice.
UPDATE campaign_logs l
SET channel = CASE WHEN l.action = 'make_call' THEN 'voice' ELSE c.channel END
FROM campaigns c
WHERE c.id = l.campaign_id AND l.channel IS NULL AND l.action IN ('send_message', 'make_call');
UPDATE campaign_logs l SET broker_id = c.broker_id FROM campaigns c WHERE c.id = l.campaign_id AND l.broker_id IS NULL;

-- A campaign's logs by time, with the status and step in the index itself: the page's per-day, per-step and
-- headline figures over a date range are index-only scans. It replaces the plain (campaign_id, executed_at)
-- index (same leading columns), so the engine's writes keep the same number of indexes to maintain.
CREATE INDEX campaign_logs_campaign_time_status_idx ON campaign_logs (campaign_id, executed_at)
    INCLUDE (status, step_number);
DROP INDEX campaign_logs_campaign_time_idx;
-- A broker's replies (few, written by the inbound webhook alone): the conversions look an enrolment up by its
-- primary key from each reply instead of reading every enrolment of a campaign.
CREATE INDEX lead_replies_broker_idx ON lead_replies (broker_id, lead_id) WHERE kind = 'reply';

-- The day a log belongs to: its time as a date in the broker's time zone (a log at 23:30 UTC is on the
-- same date in Madrid's night, the next date in Auckland, the same date in New York's evening).
CREATE FUNCTION campaign_local_day(at timestamptz, tz text) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(at AT TIME ZONE coalesce(tz, 'UTC') AS date)
$$;

-- A period of days [first, last] in a time zone as the times [start, end) it covers; a null day leaves that
-- end open. The analytics endpoints filter logs with these, so their days are the views' days.
CREATE FUNCTION campaign_period_start(first_day date, tz text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(CAST(first_day AS timestamp) AT TIME ZONE coalesce(tz, 'UTC'), timestamptz '-infinity')
$$;
CREATE FUNCTION campaign_period_end(last_day date, tz text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(CAST(last_day + 1 AS timestamp) AT TIME ZONE coalesce(tz, 'UTC'), timestamptz 'infinity')
$$;

-- Per campaign and step: how many times it was SENT / FAILED / SKIPPED (every step of the campaign, run or
-- not; campaign-level entries, step_number null, are in campaign_failure_reasons and campaign_conversions).
CREATE VIEW campaign_step_funnel AS
SELECT s.campaign_id, c.broker_id, s.step_number, s.action,
       coalesce(l.sent, 0) AS sent, coalesce(l.failed, 0) AS failed, coalesce(l.skipped, 0) AS skipped
FROM campaign_steps s
JOIN campaigns c ON c.id = s.campaign_id
LEFT JOIN (
    SELECT campaign_id, step_number,
           count(*) FILTER (WHERE status = 'SENT')    AS sent,
           count(*) FILTER (WHERE status = 'FAILED')  AS failed,
           count(*) FILTER (WHERE status = 'SKIPPED') AS skipped
    FROM campaign_logs
    WHERE step_number IS NOT NULL
    GROUP BY campaign_id, step_number
) l ON l.campaign_id = s.campaign_id AND l.step_number = s.step_number;

-- Per campaign and day (in the broker's time zone): every log row, campaign-level entries included, so the
-- days of a campaign add up to its campaign_stats. Days without logs have no row.
CREATE VIEW campaign_daily_stats AS
SELECT l.campaign_id, c.broker_id, campaign_local_day(l.executed_at, b.timezone) AS day,
       count(*) FILTER (WHERE l.status = 'SENT')    AS sent,
       count(*) FILTER (WHERE l.status = 'FAILED')  AS failed,
       count(*) FILTER (WHERE l.status = 'SKIPPED') AS skipped
FROM campaign_logs l
JOIN campaigns c ON c.id = l.campaign_id
LEFT JOIN brokers b ON b.id = c.broker_id
GROUP BY l.campaign_id, c.broker_id, campaign_local_day(l.executed_at, b.timezone);

-- Why steps did not go out: FAILED and SKIPPED rows per campaign, step (null = campaign-level) and reason.
CREATE VIEW campaign_failure_reasons AS
SELECT l.campaign_id, c.broker_id, l.step_number, l.action, l.status, l.reason, count(*) AS count
FROM campaign_logs l
JOIN campaigns c ON c.id = l.campaign_id
WHERE l.status IN ('FAILED', 'SKIPPED')
GROUP BY l.campaign_id, c.broker_id, l.step_number, l.action, l.status, l.reason;

-- Per campaign: leads enrolled, goals reached (the SKIPPED goal_reached stop, once per lead), leads that
-- replied after their enrolment (lead_replies of kind 'reply'; a reply stops active enrolments with
-- lead_replied), leads that unsubscribed after it, and the rates over the enrolled.
CREATE VIEW campaign_conversions AS
SELECT c.id AS campaign_id, c.broker_id,
       coalesce(e.enrolled, 0) AS enrolled,
       coalesce(g.goal_reached, 0) AS goal_reached,
       coalesce(r.replied, 0) AS replied,
       coalesce(r.unsubscribed, 0) AS unsubscribed,
       CASE WHEN coalesce(e.enrolled, 0) > 0 THEN round(coalesce(g.goal_reached, 0)::numeric / e.enrolled, 4) END
           AS conversion_rate,
       CASE WHEN coalesce(e.enrolled, 0) > 0 THEN round(coalesce(r.replied, 0)::numeric / e.enrolled, 4) END
           AS reply_rate
FROM campaigns c
LEFT JOIN (SELECT campaign_id, count(*) AS enrolled FROM campaign_enrolments GROUP BY campaign_id) e
    ON e.campaign_id = c.id
LEFT JOIN (SELECT campaign_id, count(*) AS goal_reached FROM campaign_logs WHERE reason = 'goal_reached'
           GROUP BY campaign_id) g ON g.campaign_id = c.id
LEFT JOIN (
    SELECT e.campaign_id,
           count(DISTINCT e.lead_id) FILTER (WHERE r.kind = 'reply') AS replied,
           count(DISTINCT e.lead_id) FILTER (WHERE r.kind = 'unsubscribe') AS unsubscribed
    FROM lead_replies r
    JOIN campaign_enrolments e ON e.lead_id = r.lead_id AND e.broker_id = r.broker_id AND r.received_at >= e.enrolled_at
    GROUP BY e.campaign_id
) r ON r.campaign_id = c.id;

-- What the providers said became of the messages and calls (delivery receipts), per campaign and channel.
CREATE VIEW campaign_delivery_statuses AS
SELECT d.campaign_id, c.broker_id, d.channel, d.status, count(*) AS messages, max(d.updated_at) AS last_update
FROM message_deliveries d
JOIN campaigns c ON c.id = d.campaign_id
GROUP BY d.campaign_id, c.broker_id, d.channel, d.status;

-- The analysts' group role: reads the results tables and the views, nothing else (no leads, no definitions'
-- tables, no broker_admins, no writes). Roles are cluster-wide: created once, granted in each database
-- migrated. Analysts log in as their own LOGIN roles, members of it (`campaigns analysts grant NAME`).
-- A migrating user that may not create roles (a managed database) gets a notice and the rest of the schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'campaigns_analyst') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE USING MESSAGE = 'campaigns_analyst not created: ' || current_user
                || ' may not create roles (create it, then run the grants of migration 0013 as a user who may)';
            RETURN;
        END IF;
        CREATE ROLE campaigns_analyst NOLOGIN;
    END IF;
    -- (no format(): migrations go through the driver, which reads a percent sign as a placeholder)
    EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database()) || ' TO campaigns_analyst';
    EXECUTE 'GRANT USAGE ON SCHEMA ' || quote_ident(current_schema()) || ' TO campaigns_analyst';
    GRANT SELECT ON campaign_logs, campaign_stats, message_deliveries,
                    campaign_overview, campaign_step_stats, campaign_step_funnel, campaign_daily_stats,
                    campaign_failure_reasons, campaign_conversions, campaign_delivery_statuses
        TO campaigns_analyst;
END
$$;
