-- 0003: indexes for the hourly run at a million leads.
-- The claim and plan queries look enrolments up by (campaign, lead) among the ACTIVE ones.
DROP INDEX IF EXISTS campaign_enrolments_active_idx;
CREATE INDEX campaign_enrolments_active_idx ON campaign_enrolments (campaign_id, lead_id) WHERE status = 'ACTIVE';
