-- The broker's leads a campaign's trigger would judge in a sweep now: valid at their last validation (or not
-- validated yet), not enrolled in it; as the rules' events, after the trigger type's own pre-filter.
SELECT r.lead_id, c.id AS campaign_id, r.broker_id, r.score, r.stage,
       (r.prev_stage IS NOT NULL AND r.prev_stage <> r.stage) AS stage_changed,
       CAST(extract(epoch FROM (CAST(:run_at AS timestamptz) - r.last_activity_at)) / 86400.0 AS float8)
           AS days_inactive
FROM (
    SELECT l.id AS lead_id, l.broker_id, l.score, l.stage, l.last_activity_at, s.valid_stage AS prev_stage
    FROM leads l
    LEFT JOIN lead_snapshots s ON s.lead_id = l.id
    WHERE l.broker_id = :broker_id AND NOT coalesce(s.rejected, false)
) r
JOIN campaigns c ON c.id = :campaign_id
WHERE NOT EXISTS (SELECT 1 FROM campaign_enrolments e WHERE e.campaign_id = c.id AND e.lead_id = r.lead_id)
  AND {{ prefilter }}
ORDER BY r.lead_id
