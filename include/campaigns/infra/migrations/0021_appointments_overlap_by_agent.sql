-- 0021 (issue 14): one agent's meetings still never overlap, checked by agent equality instead of an overlap of
-- one-point agent ranges. GiST indexed those ranges poorly: each booking searched ~40 us of index at 100k
-- appointments (a tenth of an executed step's whole cost). btree_gist is a trusted extension of PostgreSQL's
-- contrib: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE appointments DROP CONSTRAINT appointments_agent_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_agent_no_overlap
    EXCLUDE USING gist (agent_id WITH =, tstzrange(starts_at, ends_at) WITH &&);
