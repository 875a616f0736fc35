-- A lead that replied ends its ACTIVE enrolments in its broker's campaigns (PAUSED campaigns included).
-- Rows are locked in the executor's order (campaign, lead); an enrolment a running chunk holds is waited
-- for, and is left alone if that chunk finished or stopped it meanwhile.
WITH target AS (
    SELECT e.campaign_id, e.lead_id
    FROM campaign_enrolments e
    JOIN campaigns c ON c.id = e.campaign_id
    WHERE c.broker_id = :broker AND e.lead_id = ANY(:leads) AND e.status = 'ACTIVE'
    ORDER BY e.campaign_id, e.lead_id
    FOR UPDATE OF e
)
UPDATE campaign_enrolments e
SET status = 'STOPPED', finished_at = :now
FROM target t
WHERE e.campaign_id = t.campaign_id AND e.lead_id = t.lead_id AND e.status = 'ACTIVE'
RETURNING e.campaign_id, e.lead_id
