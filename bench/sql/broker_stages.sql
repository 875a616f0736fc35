-- Every broker's stages in pipeline order, free-text vocabularies of brokers without pipeline_stages included,
-- with the stage a lead came from (the funnel's previous role) and the next one in the pipeline (after the
-- last, the first: a lead reopened). What the benchmark's own moves are made of.
CREATE TABLE bench.broker_stages (
    broker_id      bigint NOT NULL,
    position       int NOT NULL,
    stage          text NOT NULL,
    previous_stage text,
    next_stage     text NOT NULL,
    PRIMARY KEY (broker_id, stage)
)
