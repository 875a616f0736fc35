-- Keep each rejected row, as staged, with every reason; a retried task inserts nothing twice.
INSERT INTO lead_rejects (run_id, lead_id, reasons, lead, rejected_at)
SELECT r.run_id, r.lead_id, t.reasons, to_jsonb(r) - 'rejected', :run_at
FROM tmp_quality_rejects t
JOIN run_leads r ON r.run_id = :run_id AND r.lead_id = t.lead_id
ON CONFLICT (run_id, lead_id) DO NOTHING
