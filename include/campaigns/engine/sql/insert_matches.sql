-- Every pair whose event the rules matched.
INSERT INTO run_trigger_matches (run_id, campaign_id, lead_id)
SELECT :run_id, c.campaign_id, c.lead_id
FROM candidates c
JOIN matched_events m ON m.event_id = c.event_id
ON CONFLICT DO NOTHING
