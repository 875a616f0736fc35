-- 0012: campaign options (CONTRACT §6) as the engine applies them.

-- Whether `at` falls inside a campaign's quiet hours {"start": "HH:MM", "end": "HH:MM"} in time zone `tz`:
-- [start, end) in local wall-clock time, a window that crosses midnight when end <= start. The one
-- definition: the plan leaves out contact steps that fall due inside it, the chunk claims its enrolments
-- with it (zero-delay chains), and the admin API's preview uses it.
CREATE FUNCTION campaign_quiet_at(quiet_hours jsonb, at timestamptz, tz text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN quiet_hours IS NULL THEN false
        WHEN CAST(quiet_hours->>'start' AS time) < CAST(quiet_hours->>'end' AS time)
            THEN CAST(at AT TIME ZONE coalesce(tz, 'UTC') AS time) >= CAST(quiet_hours->>'start' AS time)
             AND CAST(at AT TIME ZONE coalesce(tz, 'UTC') AS time) < CAST(quiet_hours->>'end' AS time)
        ELSE CAST(at AT TIME ZONE coalesce(tz, 'UTC') AS time) >= CAST(quiet_hours->>'start' AS time)
          OR CAST(at AT TIME ZONE coalesce(tz, 'UTC') AS time) < CAST(quiet_hours->>'end' AS time)
    END
$$;

-- A goal ends an enrolment once: one campaign-level goal_reached entry per (campaign, lead), ever.
CREATE UNIQUE INDEX campaign_logs_goal_once ON campaign_logs (campaign_id, lead_id) WHERE reason = 'goal_reached';

-- Frequency caps count a lead's recent SENT contacts across campaigns.
CREATE INDEX campaign_logs_lead_sent_idx ON campaign_logs (lead_id, executed_at) WHERE status = 'SENT';
