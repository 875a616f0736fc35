-- This sweep is now "the last sweep": the reference of the next one's incremental staging.
INSERT INTO sweep_state (id, last_sweep_at, last_sweep_run_id)
VALUES (1, :run_at, :run_id)
ON CONFLICT (id) DO UPDATE SET last_sweep_at = excluded.last_sweep_at, last_sweep_run_id = excluded.last_sweep_run_id
