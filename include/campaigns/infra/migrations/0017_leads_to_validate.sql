-- 0017: what the quality gate validates, as one relation Great Expectations can read (quality/validate.py):
-- every run's staged leads still in play, with the columns the expectations name. `pipeline_stage` is
-- "<broker_id>:<stage>" for a lead whose broker has its own pipeline and null for the others, so one
-- value-set expectation checks every broker against its own stages. A rule naming a column not here needs
-- it added to this view (CREATE OR REPLACE VIEW in a new migration) and to the snapshot.
CREATE VIEW run_leads_to_validate AS
SELECT r.run_id, r.lead_id, r.broker_id, r.stage, r.score, r.email, r.phone, r.last_activity_at, r.timezone,
       CASE WHEN p.broker_id IS NOT NULL THEN r.broker_id || ':' || r.stage END AS pipeline_stage
FROM run_leads r
LEFT JOIN (SELECT DISTINCT broker_id FROM pipeline_stages) p ON p.broker_id = r.broker_id
WHERE NOT r.rejected;
