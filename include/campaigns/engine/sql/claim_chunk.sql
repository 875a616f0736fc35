-- Claim the chunk's enrolments for this transaction (read by psycopg itself: its placeholders). SKIP LOCKED: an
-- enrolment another run is executing right now is left to that run (it will have executed the step when it
-- commits). The plan wrote a chunk's rows in key order, so the probes below walk the enrolments' index in order.
-- Each planned row of an ACTIVE campaign finds its enrolment by the primary key (a LATERAL probe: a join let the
-- planner read every enrolment of the table for each chunk); SKIP LOCKED never waits, so the order the locks are
-- taken in cannot deadlock.
-- `quiet`: the run time falls inside the campaign's quiet hours in the lead's time zone (else the broker's).
-- Then the lead's own row (all nulls for a lead deleted since it was enrolled), read by the same key probe that
-- finds its time zone: the chunk does not look its leads up a second time.
SELECT e.campaign_id, e.lead_id, e.enrolled_at, e.last_step_number, e.last_step_at, e.contacts_made,
       campaign_quiet_at(c.quiet_hours, CAST(%(run_at)s AS timestamptz), coalesce(l.timezone, b.timezone)) AS quiet,
       l.*
FROM run_plan p
JOIN campaigns c ON c.id = p.campaign_id AND c.status = 'ACTIVE'
CROSS JOIN LATERAL (
    SELECT e.campaign_id, e.lead_id, e.enrolled_at, e.last_step_number, e.last_step_at, e.contacts_made
    FROM campaign_enrolments e
    WHERE e.campaign_id = p.campaign_id AND e.lead_id = p.lead_id AND e.status = 'ACTIVE'
    FOR UPDATE SKIP LOCKED
) e
LEFT JOIN leads l ON l.id = e.lead_id
LEFT JOIN brokers b ON b.id = c.broker_id
WHERE p.run_id = %(run_id)s
  AND p.chunk_no = %(chunk_no)s
ORDER BY e.campaign_id, e.lead_id
