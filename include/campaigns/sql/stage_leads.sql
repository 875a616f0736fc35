-- Stage the leads this run must look at, with the stage of their last snapshot.
-- Apply mode: the one lead. Sweep: only what can trigger something new --
--   * leads never seen, or changed since their snapshot in anything the triggers or validation read;
--   * every lead of a broker with an automatic campaign the last sweep did not evaluate as it is now;
--   * leads that crossed an INACTIVITY threshold since the last sweep (unchanged leads cannot trigger
--     LEAD_SCORE or STAGE_CHANGE again: their earlier verdict stands, and a match is enrolled already).
-- The three sets are found separately (a hash join, an index on broker, an index range on activity).
WITH last_sweep AS (
    SELECT last_sweep_at FROM sweep_state WHERE id = 1
), automatic AS (
    SELECT c.broker_id, c.trigger_type, c.trigger_config,
           coalesce(e.definition_hash = md5(c.broker_id::text || c.trigger_type || c.trigger_config::text)
                    AND e.evaluated_at = (SELECT last_sweep_at FROM last_sweep), false) AS up_to_date
    FROM campaigns c
    LEFT JOIN campaign_evaluations e ON e.campaign_id = c.id
    WHERE c.status = 'ACTIVE' AND c.trigger_type IN ('LEAD_SCORE', 'STAGE_CHANGE', 'INACTIVITY')
), full_brokers AS (
    SELECT DISTINCT broker_id FROM automatic WHERE NOT up_to_date
), idle_windows AS (
    SELECT DISTINCT broker_id,
           (SELECT last_sweep_at FROM last_sweep) - CAST(trigger_config->>'days' AS numeric) * interval '1 day' AS after,
           CAST(:run_at AS timestamptz) - CAST(trigger_config->>'days' AS numeric) * interval '1 day' AS upto
    FROM automatic
    WHERE up_to_date AND trigger_type = 'INACTIVITY'
), wanted AS (
    SELECT l.id
    FROM leads l
    LEFT JOIN lead_snapshots s ON s.lead_id = l.id
    WHERE CAST(:lead_id AS bigint) IS NULL
      AND (s.lead_id IS NULL
           OR (s.broker_id, s.stage, s.score, s.last_activity_at, s.updated_at, s.email, s.phone)
              IS DISTINCT FROM (l.broker_id, l.stage, l.score, l.last_activity_at, l.updated_at, l.email, l.phone))
    UNION
    SELECT l.id FROM leads l JOIN full_brokers f ON f.broker_id = l.broker_id
    WHERE CAST(:lead_id AS bigint) IS NULL
    UNION
    SELECT l.id FROM idle_windows w
    JOIN leads l ON l.broker_id = w.broker_id AND l.last_activity_at > w.after AND l.last_activity_at <= w.upto
    WHERE CAST(:lead_id AS bigint) IS NULL
    UNION
    SELECT CAST(:lead_id AS bigint) WHERE CAST(:lead_id AS bigint) IS NOT NULL
)
INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, email, phone, stage, score, last_activity_at,
                       assigned_agent_id, do_not_contact, timezone, updated_at, prev_stage, is_new)
SELECT :run_id, l.id, l.broker_id, l.full_name, l.email, l.phone, l.stage, l.score, l.last_activity_at,
       l.assigned_agent_id, l.do_not_contact, l.timezone, l.updated_at, s.stage, s.lead_id IS NULL
FROM wanted w
JOIN leads l ON l.id = w.id
LEFT JOIN lead_snapshots s ON s.lead_id = l.id
