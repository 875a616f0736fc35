-- The enrolments this run executes, spread over chunks of about equal numbers of leads in one pass (all the
-- enrolments of a lead in the same chunk, so one transaction sees a lead's stage moves and sends in order):
-- chunks = clamp(ceil(leads / :min_chunk_size), 1, :max_chunks). Only ACTIVE enrolments of ACTIVE campaigns:
--   * whose next step is due at the run time: (last execution, or enrolment) + delay <= run_at -- unless it is
--     a contact step and the run time is inside the campaign's quiet hours in the lead's time zone (deferred:
--     it stays due and runs in the first run after the window);
--   * whose lead is in one of the campaign's goal stages (the enrolment ends, whether a step is due or not).
-- Leads currently set aside by validation wait until they are valid again: in a sweep, the snapshot (already
-- advanced by enrol_leads) says which; an apply goes by its own validation.
WITH candidates AS (
    SELECT e.campaign_id, e.lead_id
    FROM campaign_enrolments e
    JOIN campaigns c ON c.id = e.campaign_id AND c.status = 'ACTIVE'
    JOIN LATERAL (
        SELECT s.delay_hours, s.action
        FROM campaign_steps s
        WHERE s.campaign_id = e.campaign_id AND s.step_number > e.last_step_number
        ORDER BY s.step_number
        LIMIT 1
    ) next_step ON true
    LEFT JOIN leads l ON c.quiet_hours IS NOT NULL AND l.id = e.lead_id
    LEFT JOIN brokers b ON c.quiet_hours IS NOT NULL AND b.id = c.broker_id
    WHERE e.status = 'ACTIVE'
      AND coalesce(e.last_step_at, e.enrolled_at) + next_step.delay_hours * interval '1 hour' <= :run_at
      AND NOT (next_step.action IN ({{ contact_actions }}) AND c.quiet_hours IS NOT NULL
               AND campaign_quiet_at(c.quiet_hours, CAST(:run_at AS timestamptz), coalesce(l.timezone, b.timezone)))
      AND (CAST(:campaign_id AS bigint) IS NULL
           OR (e.campaign_id = CAST(:campaign_id AS bigint) AND e.lead_id = CAST(:lead_id AS bigint)))
    UNION
    SELECT e.campaign_id, e.lead_id
    FROM campaigns c
    JOIN campaign_enrolments e ON e.campaign_id = c.id AND e.status = 'ACTIVE'
    JOIN leads l ON l.id = e.lead_id
    WHERE c.status = 'ACTIVE' AND c.goal IS NOT NULL
      AND l.stage IN (SELECT jsonb_array_elements_text(c.goal->'stages'))
      AND (CAST(:campaign_id AS bigint) IS NULL
           OR (e.campaign_id = CAST(:campaign_id AS bigint) AND e.lead_id = CAST(:lead_id AS bigint)))
), due AS (
    SELECT d.campaign_id, d.lead_id
    FROM candidates d
    WHERE NOT EXISTS (SELECT 1 FROM lead_snapshots s  -- index probes (lead_snapshots_rejected_idx, leads pk);
                      JOIN leads l ON l.id = s.lead_id    -- a deleted lead is not waiting: it stops
                      WHERE CAST(:lead_id AS bigint) IS NULL AND s.lead_id = d.lead_id AND s.rejected)
      AND NOT EXISTS (SELECT 1 FROM run_leads r
                      WHERE CAST(:lead_id AS bigint) IS NOT NULL AND r.run_id = :run_id AND r.lead_id = d.lead_id
                        AND r.rejected)
), numbered AS (
    SELECT campaign_id, lead_id,
           dense_rank() OVER (ORDER BY lead_id) - 1 AS position,       -- per lead: its enrolments share a chunk
           (SELECT count(DISTINCT lead_id) FROM due) AS total
    FROM due
)
INSERT INTO run_plan (run_id, chunk_no, campaign_id, lead_id)
SELECT :run_id,
       CAST(position * greatest(1, least(CAST(:max_chunks AS int),
                                        CAST(ceil(total / CAST(:min_chunk_size AS numeric)) AS int))) / total AS int),
       campaign_id, lead_id
FROM numbered
ON CONFLICT DO NOTHING
