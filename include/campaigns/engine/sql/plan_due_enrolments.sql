-- The enrolments this run executes, spread over chunks of about equal numbers of leads in one pass (all the
-- enrolments of a lead in the same chunk, so one transaction sees a lead's stage moves and sends in order; the
-- leads of one agent in one chunk, so chunks running side by side do not book for the same agent):
-- chunks = clamp(ceil(leads / :min_chunk_size), 1, :max_chunks), and once above 1 rounded up to a multiple of
-- :parallel_chunks (at most :max_chunks): 3 chunks on 2 slots kept one slot idle for a third of the stage.
-- Only ACTIVE enrolments of ACTIVE campaigns:
--   * whose next step is due at the run time: (last execution, or enrolment) + delay <= run_at -- unless it is
--     a contact step and the run time is inside the campaign's quiet hours in the lead's time zone (deferred:
--     it stays due and runs in the first run after the window);
--   * whose lead is in one of the campaign's goal stages (the enrolment ends, whether a step is due or not).
-- Leads currently set aside by validation wait until they are valid again: in a sweep, the snapshot (already
-- advanced by enrol_leads) says which; an apply goes by its own validation.
WITH active_steps AS (  -- each step of an ACTIVE campaign with the number of the step before it, and the
    -- latest anchor (last execution or enrolment) from which it is due at the run time: worked out per step,
    -- not per enrolment and step
    SELECT s.campaign_id, s.step_number, s.action, c.quiet_hours, c.broker_id, c.max_contacts,
           CAST(:run_at AS timestamptz) - s.delay_hours * interval '1 hour' AS due_if_anchored_by,
           lag(s.step_number) OVER (PARTITION BY s.campaign_id ORDER BY s.step_number) AS previous_number
    FROM campaign_steps s
    JOIN campaigns c ON c.id = s.campaign_id AND c.status = 'ACTIVE'
), goal_stages AS (
    SELECT c.id AS campaign_id, g.stage
    FROM campaigns c
    CROSS JOIN LATERAL jsonb_array_elements_text(c.goal->'stages') AS g(stage)
    WHERE c.status = 'ACTIVE' AND c.goal IS NOT NULL
), goal_leads AS MATERIALIZED (  -- the leads in any goal stage: an index range per stage (leads_stage_idx)
    SELECT l.id, l.stage FROM leads l WHERE l.stage = ANY (ARRAY(SELECT DISTINCT stage FROM goal_stages))
), candidates AS (
    -- an enrolment's next step is the first after its last one: the step whose predecessor it has reached
    -- (a hash join on the campaign, not a look-up per enrolment)
    SELECT e.campaign_id, e.lead_id, w.may_wait, s.broker_id
    FROM campaign_enrolments e
    JOIN active_steps s ON s.campaign_id = e.campaign_id
                       AND e.last_step_number < s.step_number
                       AND e.last_step_number >= coalesce(s.previous_number, e.last_step_number)
    -- a contact step of a campaign with quiet hours may have to wait, unless max_contacts stops the enrolment
    -- first (that is logged now)
    CROSS JOIN LATERAL (SELECT s.action IN ({{ contact_actions }}) AND s.quiet_hours IS NOT NULL
                               AND NOT (s.max_contacts IS NOT NULL AND e.contacts_made >= s.max_contacts)
                               AS may_wait) w
    WHERE e.status = 'ACTIVE'
      AND coalesce(e.last_step_at, e.enrolled_at) <= s.due_if_anchored_by
      AND (CAST(:campaign_id AS bigint) IS NULL
           OR (e.campaign_id = CAST(:campaign_id AS bigint) AND e.lead_id = CAST(:lead_id AS bigint)))
    UNION ALL
    SELECT e.campaign_id, e.lead_id, false, NULL
    FROM goal_leads l
    CROSS JOIN LATERAL (  -- each goal lead's own enrolments (by the lead index), not every enrolment hashed
        SELECT e.campaign_id, e.lead_id FROM campaign_enrolments e
        WHERE e.lead_id = l.id AND e.status = 'ACTIVE'
        OFFSET 0
    ) e
    JOIN goal_stages g ON g.campaign_id = e.campaign_id AND g.stage = l.stage
    WHERE CAST(:campaign_id AS bigint) IS NULL
       OR (e.campaign_id = CAST(:campaign_id AS bigint) AND e.lead_id = CAST(:lead_id AS bigint))
), valid AS MATERIALIZED (  -- set-aside leads out first: their time zone may be one PostgreSQL refuses
    SELECT d.*
    FROM candidates d
    WHERE NOT EXISTS (SELECT 1 FROM lead_snapshots s  -- index probes (lead_snapshots_rejected_idx, leads pk);
                      JOIN leads l ON l.id = s.lead_id    -- a deleted lead is not waiting: it stops
                      WHERE CAST(:lead_id AS bigint) IS NULL AND s.lead_id = d.lead_id AND s.rejected)
      AND NOT EXISTS (SELECT 1 FROM run_leads r
                      WHERE CAST(:lead_id AS bigint) IS NOT NULL AND r.run_id = :run_id AND r.lead_id = d.lead_id
                        AND r.rejected)
    ORDER BY d.lead_id  -- the probes of located below then walk the leads' index and pages in order (-18 %)
), located AS MATERIALIZED (  -- each candidate's lead read once: its time zone (else its broker's, else UTC,
    -- as campaign_quiet_at reads it) and its agent
    SELECT v.campaign_id, v.lead_id, v.may_wait, l.assigned_agent_id AS agent_id,
           coalesce(l.timezone, b.timezone, 'UTC') AS timezone
    FROM valid v
    LEFT JOIN LATERAL (  -- by key: a candidate set is small next to the leads table (OFFSET 0: no hash of it)
        SELECT l.assigned_agent_id, l.timezone FROM leads l WHERE l.id = v.lead_id OFFSET 0
    ) l ON true
    LEFT JOIN brokers b ON b.id = v.broker_id
), quiet_now AS (  -- whether the run time is quiet, once per campaign and time zone (not per candidate)
    SELECT z.campaign_id, z.timezone
    FROM (SELECT DISTINCT campaign_id, timezone FROM located WHERE may_wait) z
    JOIN campaigns c ON c.id = z.campaign_id
    WHERE campaign_quiet_at(c.quiet_hours, CAST(:run_at AS timestamptz), z.timezone)
), due AS (
    SELECT DISTINCT l.campaign_id, l.lead_id, l.agent_id
    FROM located l
    WHERE NOT (l.may_wait
               AND EXISTS (SELECT 1 FROM quiet_now q WHERE q.campaign_id = l.campaign_id AND q.timezone = l.timezone))
), numbered AS (
    -- per lead: its enrolments share a chunk (their position); leads in the order of their assigned agent
    SELECT d.campaign_id, d.lead_id, d.agent_id,
           dense_rank() OVER (ORDER BY d.agent_id NULLS LAST, d.lead_id) - 1 AS position,
           count(*) OVER (PARTITION BY d.agent_id) AS agent_enrolments,
           count(*) OVER () AS enrolments
    FROM due d
), sized AS (
    SELECT n.*, t.total,
           CASE WHEN t.chunks = 1 THEN 1
                ELSE least(CAST(:max_chunks AS int), CAST(:parallel_chunks AS int)
                           * CAST(ceil(t.chunks / CAST(:parallel_chunks AS numeric)) AS int))
           END AS chunks
    FROM numbered n
    CROSS JOIN (SELECT d.total,
                       greatest(1, least(CAST(:max_chunks AS int),
                                         CAST(ceil(d.total / CAST(:min_chunk_size AS numeric)) AS int))) AS chunks
                FROM (SELECT count(DISTINCT lead_id) AS total FROM due) d) t
), placed AS (
    -- an agent's leads go where its first lead goes, so two chunks running side by side do not queue on each
    -- other's agent locks -- unless the agent has more than a quarter of a chunk's share (then its leads stay
    -- spread, and chunks stay about equal)
    SELECT campaign_id, lead_id, total, chunks,
           CASE WHEN agent_id IS NULL OR agent_enrolments * 4 > enrolments / chunks THEN position
                ELSE min(position) OVER (PARTITION BY agent_id) END AS position
    FROM sized
)
INSERT INTO run_plan (run_id, chunk_no, campaign_id, lead_id)
SELECT :run_id, CAST(position * chunks / total AS int), campaign_id, lead_id
FROM placed
ORDER BY 2, 3, 4  -- a chunk's claim then probes its enrolments in key order (claim_chunk.sql: -13 %)
ON CONFLICT DO NOTHING
