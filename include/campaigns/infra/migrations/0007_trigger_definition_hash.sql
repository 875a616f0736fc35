-- 0007: the definition hash of a campaign's trigger, in one place. A sweep records the hash of each
-- definition it evaluated (campaign_evaluations); the next sweep re-reads a broker whose campaigns'
-- hashes differ. Same formula as before, so recorded hashes stay valid.
CREATE FUNCTION campaign_trigger_hash(broker_id bigint, trigger_type text, trigger_config jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT md5(broker_id::text || trigger_type || trigger_config::text) $$;

-- Trigger types and actions are registries in the code (include/campaigns/triggers/, engine/actions/):
-- adding one is adding a module, not a migration. The engine refuses an unknown one by name.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_trigger_type_check;
ALTER TABLE campaign_steps DROP CONSTRAINT campaign_steps_action_check;
