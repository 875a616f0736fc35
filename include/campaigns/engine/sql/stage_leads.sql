-- Stage the leads this run must look at, with the stage they had at the last sweep that found them valid.
-- Apply mode: the one lead. Sweep: only what can trigger something new or be judged differently --
--   * leads never seen, or changed since their snapshot in anything the triggers or validation read
--     (the snapshot holds what the last sweep read of every lead, valid or set aside: an unchanged bad
--     row is not read again);
--   * the valid leads of a broker with an automatic campaign the last sweep did not evaluate as it is now;
--   * every lead of a broker whose pipeline (pipeline_stages) changed since the last sweep validated it;
--   * set-aside rows whose verdict depends on the time (activity in the future) once that time has come;
--   * leads whose activity crossed a trigger's staging window since the last sweep (INACTIVITY: unchanged
--     leads cannot trigger LEAD_SCORE or STAGE_CHANGE again: their earlier verdict stands).
-- The sets are found separately (a hash join, an index on broker, index ranges on activity / recheck time).
-- The fragments in double braces come from the trigger registry (include/campaigns/triggers/__init__.py).
WITH last_sweep AS (
    SELECT last_sweep_at FROM sweep_state WHERE id = 1
), automatic AS (
    SELECT c.broker_id, c.trigger_type, c.trigger_config, (SELECT last_sweep_at FROM last_sweep) AS last_sweep_at,
           coalesce(e.definition_hash = campaign_trigger_hash(c.broker_id, c.trigger_type, c.trigger_config)
                    AND e.evaluated_at = (SELECT last_sweep_at FROM last_sweep), false) AS up_to_date
    FROM campaigns c
    LEFT JOIN campaign_evaluations e ON e.campaign_id = c.id
    WHERE c.status = 'ACTIVE' AND c.trigger_type IN ({{ automatic_types }})
), full_brokers AS (
    SELECT DISTINCT broker_id FROM automatic WHERE NOT up_to_date
), pipelines AS (
    SELECT broker_id, campaign_pipeline_hash(array_agg(stage)) AS pipeline_hash FROM pipeline_stages GROUP BY broker_id
), pipeline_changed AS (
    SELECT coalesce(p.broker_id, e.broker_id) AS broker_id
    FROM pipelines p
    FULL JOIN pipeline_evaluations e ON e.broker_id = p.broker_id
    WHERE p.pipeline_hash IS DISTINCT FROM e.pipeline_hash
), windows AS (  -- each trigger type's staging window, where it has one
    SELECT DISTINCT c.broker_id, {{ window_after }} AS after, {{ window_upto }} AS upto
    FROM automatic c
    WHERE c.up_to_date
), wanted AS (
    SELECT l.id
    FROM leads l
    LEFT JOIN lead_snapshots s ON s.lead_id = l.id
    WHERE CAST(:lead_id AS bigint) IS NULL
      AND (s.lead_id IS NULL
           OR (s.broker_id, s.stage, s.score, s.last_activity_at, s.email, s.phone, s.timezone)
              IS DISTINCT FROM (l.broker_id, l.stage, l.score, l.last_activity_at, l.email, l.phone, l.timezone))
    UNION
    SELECT l.id
    FROM leads l
    JOIN full_brokers f ON f.broker_id = l.broker_id
    LEFT JOIN lead_snapshots s ON s.lead_id = l.id
    WHERE CAST(:lead_id AS bigint) IS NULL AND NOT coalesce(s.rejected, false)
    UNION
    SELECT l.id FROM leads l JOIN pipeline_changed p ON p.broker_id = l.broker_id
    WHERE CAST(:lead_id AS bigint) IS NULL
    UNION
    SELECT s.lead_id FROM lead_snapshots s
    WHERE CAST(:lead_id AS bigint) IS NULL AND s.rejected AND s.recheck_at <= CAST(:run_at AS timestamptz)
    UNION
    SELECT l.id FROM windows w
    JOIN leads l ON l.broker_id = w.broker_id AND l.last_activity_at > w.after AND l.last_activity_at <= w.upto
    LEFT JOIN lead_snapshots s ON s.lead_id = l.id
    WHERE CAST(:lead_id AS bigint) IS NULL AND w.after IS NOT NULL AND NOT coalesce(s.rejected, false)
    UNION
    SELECT CAST(:lead_id AS bigint) WHERE CAST(:lead_id AS bigint) IS NOT NULL
)
INSERT INTO run_leads (run_id, lead_id, broker_id, full_name, email, phone, stage, score, last_activity_at,
                       assigned_agent_id, do_not_contact, timezone, updated_at, prev_stage, is_new)
SELECT :run_id, l.id, l.broker_id, l.full_name, l.email, l.phone, l.stage, l.score, l.last_activity_at,
       l.assigned_agent_id, l.do_not_contact, l.timezone, l.updated_at, s.valid_stage, s.valid_stage IS NULL
FROM wanted w
JOIN leads l ON l.id = w.id
LEFT JOIN lead_snapshots s ON s.lead_id = l.id
