-- The (valid staged lead, ACTIVE campaign of the same broker) pairs the rules must judge, into the temp table
-- `candidates`, each with the id of its distinct combination of facts (`event_id`): the rules judge one
-- event per combination, and every pair gets its event's verdict. A sweep skips MANUAL campaigns and pairs
-- already enrolled (dedup: a re-match changes nothing); an apply judges exactly the requested pair.
-- Each trigger type adds its pre-filter and masks the facts its rule does not read (include/campaigns/triggers/).
INSERT INTO candidates (lead_id, campaign_id, broker_id, score, stage, stage_changed, days_inactive, event_id)
SELECT lead_id, campaign_id, broker_id, score, stage, stage_changed, days_inactive,
       dense_rank() OVER (ORDER BY campaign_id, score, stage, stage_changed, days_inactive)
FROM (
    SELECT r.lead_id, c.id AS campaign_id, r.broker_id,
           {{ score }} AS score,
           {{ stage }} AS stage,
           {{ stage_changed }} AS stage_changed,
           {{ days_inactive }} AS days_inactive
    FROM run_leads r
    JOIN campaigns c ON c.broker_id = r.broker_id AND c.status = 'ACTIVE'
    WHERE r.run_id = :run_id
      AND NOT r.rejected
      AND (
            (CAST(:campaign_id AS bigint) IS NULL
             AND c.trigger_type IN ({{ automatic_types }})
             AND NOT EXISTS (SELECT 1 FROM campaign_enrolments e WHERE e.campaign_id = c.id AND e.lead_id = r.lead_id))
         OR c.id = CAST(:campaign_id AS bigint)
      )
      AND {{ prefilter }}
) pairs
