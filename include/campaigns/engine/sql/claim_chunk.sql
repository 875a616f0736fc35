-- Claim the chunk's enrolments for this transaction. SKIP LOCKED: an enrolment another run is
-- executing right now is left to that run (it will have executed the step when it commits).
-- `quiet`: the run time falls inside the campaign's quiet hours in the lead's time zone (else the broker's).
SELECT e.campaign_id, e.lead_id, e.enrolled_at, e.last_step_number, e.last_step_at, e.contacts_made,
       campaign_quiet_at(c.quiet_hours, CAST(:run_at AS timestamptz), coalesce(l.timezone, b.timezone)) AS quiet
FROM run_plan p
JOIN campaign_enrolments e ON e.campaign_id = p.campaign_id AND e.lead_id = p.lead_id
JOIN campaigns c ON c.id = e.campaign_id
LEFT JOIN leads l ON l.id = e.lead_id
LEFT JOIN brokers b ON b.id = c.broker_id
WHERE p.run_id = :run_id
  AND p.chunk_no = :chunk_no
  AND e.status = 'ACTIVE'
  AND c.status = 'ACTIVE'
ORDER BY e.campaign_id, e.lead_id
FOR UPDATE OF e SKIP LOCKED
