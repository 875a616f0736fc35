-- The rest of the run skips the rejected rows.
UPDATE run_leads r
SET rejected = true
FROM tmp_quality_rejects t
WHERE r.run_id = :run_id
  AND r.lead_id = t.lead_id
  AND NOT r.rejected
