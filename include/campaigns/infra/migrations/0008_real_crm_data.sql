-- 0008: real CRM data (issue 8): a broker's own pipeline, rejected rows remembered, engine errors that
-- stay recoverable, meetings that cannot overlap.

-- A broker's own pipeline (the CRM's words; optional). No rows = every non-empty stage is valid.
CREATE TABLE pipeline_stages (
    broker_id  bigint NOT NULL,
    stage      text NOT NULL CHECK (stage <> ''),
    position   int NOT NULL,
    PRIMARY KEY (broker_id, stage)
);

-- The hash of a set of stages: what validation depends on (order and position do not matter).
CREATE FUNCTION campaign_pipeline_hash(stages text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT md5(array_to_string(ARRAY(SELECT s FROM unnest(stages) AS s ORDER BY s), E'\n')) $$;

-- The pipeline each broker's leads were last validated against by a sweep: a broker whose pipeline
-- changed since is re-read in full (a new stage can make a set-aside lead valid, a removed one the reverse).
CREATE TABLE pipeline_evaluations (
    broker_id      bigint PRIMARY KEY,
    pipeline_hash  text NOT NULL,
    evaluated_at   timestamptz NOT NULL,
    run_id         text
);

-- Per run: the pipelines validation used, recorded by the sweep with its snapshots.
CREATE TABLE run_pipelines (
    run_id         text NOT NULL,
    broker_id      bigint NOT NULL,
    pipeline_hash  text,  -- null: the broker has no pipeline rows
    PRIMARY KEY (run_id, broker_id)
);

-- lead_snapshots is now what the last sweep read of every lead it staged, valid or not: the fingerprint
-- of what validation and the triggers read. An unchanged row that was set aside is not staged again;
-- `valid_stage` is the stage at the last sweep that found the lead valid (STAGE_CHANGE's previous stage).
ALTER TABLE lead_snapshots
    ADD COLUMN timezone text,
    ADD COLUMN valid_stage text,
    ADD COLUMN rejected boolean NOT NULL DEFAULT false,
    ADD COLUMN reject_reasons text[],
    ADD COLUMN recheck_at timestamptz;  -- a rejected row whose verdict changes with time (activity in the future)
UPDATE lead_snapshots SET valid_stage = stage;  -- every snapshot so far was of a valid row
-- timezone was not kept so far: compare it from the next change on, not as a change of every lead
UPDATE lead_snapshots s SET timezone = l.timezone FROM leads l WHERE l.id = s.lead_id;
CREATE INDEX lead_snapshots_recheck_idx ON lead_snapshots (recheck_at) WHERE rejected;

-- An error of the engine itself (not of the lead's data or the provider's answer) never becomes a log:
-- the enrolment is set aside with the error, listed by the admin API, and retried on request.
ALTER TABLE campaign_enrolments DROP CONSTRAINT campaign_enrolments_status_check;
ALTER TABLE campaign_enrolments ADD CONSTRAINT campaign_enrolments_status_check
    CHECK (status IN ('ACTIVE', 'COMPLETED', 'STOPPED', 'ERROR'));
ALTER TABLE campaign_enrolments
    ADD COLUMN error text,
    ADD COLUMN error_step int,
    ADD COLUMN error_at timestamptz,
    ADD COLUMN error_run_id text;
CREATE INDEX campaign_enrolments_error_idx ON campaign_enrolments (broker_id) WHERE status = 'ERROR';

-- Meetings last their slot; one agent's meetings never overlap, whatever the slot length was when
-- each was booked.
ALTER TABLE appointments ADD CONSTRAINT appointments_range_check CHECK (ends_at > starts_at);
ALTER TABLE appointments ADD CONSTRAINT appointments_agent_no_overlap
    EXCLUDE USING gist (int8range(agent_id, agent_id, '[]') WITH &&, tstzrange(starts_at, ends_at) WITH &&);

-- The plan leaves out the enrolments of leads currently set aside (an index probe per due enrolment).
CREATE INDEX lead_snapshots_rejected_idx ON lead_snapshots (lead_id) WHERE rejected;
