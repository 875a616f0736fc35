-- 0006: the plan excludes this run's rejected leads; find them without scanning the run's staged rows.
CREATE INDEX run_leads_rejected_idx ON run_leads (run_id, lead_id) WHERE rejected;
