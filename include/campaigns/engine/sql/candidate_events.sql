-- One event per distinct combination of facts, as the rules read it.
SELECT DISTINCT event_id, campaign_id, broker_id, score, stage, stage_changed, days_inactive
FROM candidates
ORDER BY event_id
