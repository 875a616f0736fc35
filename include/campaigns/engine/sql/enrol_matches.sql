-- Enrol every matched pair once (FA-3): the primary key of campaign_enrolments is the dedup.
INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, enrolled_run_id)
SELECT m.campaign_id, m.lead_id, c.broker_id, :run_at, :run_id
FROM run_trigger_matches m
JOIN campaigns c ON c.id = m.campaign_id
WHERE m.run_id = :run_id
ON CONFLICT (campaign_id, lead_id) DO NOTHING
