-- Spread the plan over :chunks chunks of about equal size (ordered by lead, so one lead's enrolments stay together).
UPDATE run_plan p
SET chunk_no = t.chunk_no
FROM (
    SELECT campaign_id, lead_id, ntile(:chunks) OVER (ORDER BY lead_id, campaign_id) - 1 AS chunk_no
    FROM run_plan
    WHERE run_id = :run_id
) t
WHERE p.run_id = :run_id AND p.campaign_id = t.campaign_id AND p.lead_id = t.lead_id
