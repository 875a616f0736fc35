-- 0004: what the last sweep evaluated, so the next one only looks at what can have changed.

-- The sweep that last advanced lead_snapshots (one row).
CREATE TABLE sweep_state (
    id                smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    last_sweep_at     timestamptz NOT NULL,
    last_sweep_run_id text
);

-- The trigger definition each automatic campaign was last evaluated with, and when.
-- A campaign counts as up to date only if it was evaluated, unchanged, by the last sweep;
-- otherwise (new, edited, resumed after a pause) the next sweep re-reads all its broker's leads.
CREATE TABLE campaign_evaluations (
    campaign_id      bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    definition_hash  text NOT NULL,
    evaluated_at     timestamptz NOT NULL,
    run_id           text
);

CREATE INDEX leads_broker_activity_idx ON leads (broker_id, last_activity_at);
