-- One row per (valid staged lead, ACTIVE campaign of the same broker) the rules should judge.
-- A sweep skips MANUAL campaigns and pairs already enrolled (dedup: a re-match changes nothing);
-- an apply judges exactly the requested pair. Each trigger type adds its pre-filter (a superset of
-- what its rule accepts, from include/campaigns/triggers/) so the rule engine sees only pairs that can
-- match; the boundaries are still decided by the rules.
SELECT r.lead_id, c.id AS campaign_id, r.broker_id, r.score, r.stage,
       (r.prev_stage IS NOT NULL AND r.prev_stage <> r.stage) AS stage_changed,
       CAST(extract(epoch FROM (CAST(:run_at AS timestamptz) - r.last_activity_at)) / 86400.0 AS float8)
           AS days_inactive
FROM run_leads r
JOIN campaigns c ON c.broker_id = r.broker_id AND c.status = 'ACTIVE'
WHERE r.run_id = :run_id
  AND NOT r.rejected
  AND (
        (CAST(:campaign_id AS bigint) IS NULL
         AND c.trigger_type IN ({{ automatic_types }})
         AND NOT EXISTS (SELECT 1 FROM campaign_enrolments e WHERE e.campaign_id = c.id AND e.lead_id = r.lead_id))
     OR c.id = CAST(:campaign_id AS bigint)
  )
  AND {{ prefilter }}
