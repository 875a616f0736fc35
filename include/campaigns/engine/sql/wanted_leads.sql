-- Which leads this run must look at besides the changed ones (into tmp_wanted_leads; stage_leads.sql copies
-- them, with the leads written since the last sweep). Apply mode: the one lead. Sweep: only what can trigger
-- something new or be judged differently --
--   * the valid leads of a broker with an automatic campaign the last sweep did not evaluate as it is now;
--   * every lead of a broker whose pipeline (pipeline_stages) changed since the last sweep validated it;
--   * set-aside rows whose verdict depends on the time (activity in the future) once that time has come;
--   * leads whose activity crossed a trigger's staging window since the last sweep (INACTIVITY: unchanged
--     leads cannot trigger LEAD_SCORE or STAGE_CHANGE again: their earlier verdict stands).
-- The sets are found separately (an index on broker, index ranges on activity / recheck time;
-- set-aside rows through the partial index of rejected snapshots), so each one costs what it finds.
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
    JOIN full_brokers f ON f.broker_id = l.broker_id
    WHERE CAST(:lead_id AS bigint) IS NULL
      AND NOT EXISTS (SELECT 1 FROM lead_snapshots s WHERE s.lead_id = l.id AND s.rejected)
    UNION ALL
    SELECT l.id FROM leads l JOIN pipeline_changed p ON p.broker_id = l.broker_id
    WHERE CAST(:lead_id AS bigint) IS NULL
    UNION ALL
    SELECT s.lead_id FROM lead_snapshots s
    WHERE CAST(:lead_id AS bigint) IS NULL AND s.rejected AND s.recheck_at <= CAST(:run_at AS timestamptz)
    UNION ALL
    SELECT l.id FROM windows w
    CROSS JOIN LATERAL (  -- an index range per broker and window (OFFSET 0: not flattened into a scan of leads)
        SELECT l.id FROM leads l
        WHERE l.broker_id = w.broker_id AND l.last_activity_at > w.after AND l.last_activity_at <= w.upto
        OFFSET 0
    ) l
    WHERE CAST(:lead_id AS bigint) IS NULL AND w.after IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM lead_snapshots s WHERE s.lead_id = l.id AND s.rejected)
    UNION ALL
    SELECT CAST(:lead_id AS bigint) WHERE CAST(:lead_id AS bigint) IS NOT NULL
)
INSERT INTO tmp_wanted_leads (lead_id)
SELECT DISTINCT id FROM wanted WHERE id IS NOT NULL
