-- Every broker's own stages as "<broker_id>:<stage>", the value set of the unknown_stage expectation (a lead is
-- checked against its own broker's stages only, since the broker is part of the value).
SELECT broker_id || ':' || stage FROM pipeline_stages ORDER BY 1
