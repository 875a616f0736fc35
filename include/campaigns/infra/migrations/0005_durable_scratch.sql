-- 0005: found by the reliability suite.
-- Per-run scratch survives a PostgreSQL crash: an unlogged table comes back empty, and a retried
-- task would then plan or validate nothing while the run reported success.
ALTER TABLE run_leads SET LOGGED;
ALTER TABLE run_trigger_matches SET LOGGED;
ALTER TABLE run_plan SET LOGGED;

-- The snapshot keeps every column validation looks at, so a lead whose e-mail or phone broke
-- (even without its updated_at moving) is staged, validated and set aside again.
ALTER TABLE lead_snapshots ADD COLUMN email text, ADD COLUMN phone text;
