-- (c): ACTIVE enrolments whose next step falls due exactly at :run_at, a quota per campaign, leads of the
-- campaign's broker in a pseudo-random order, never a deliberately malformed lead (it would be set aside)
-- nor a pair already enrolled.
WITH inserted AS (
INSERT INTO campaign_enrolments (campaign_id, lead_id, broker_id, enrolled_at, enrolled_run_id, last_step_number,
                                 last_step_at, contacts_made, status)
SELECT q.campaign_id, l.id, q.broker_id,
       CAST(:run_at AS timestamptz) - (q.delay + CASE WHEN q.step_number = 1 THEN 0 ELSE 24 END) * interval '1 hour',
       :tag, q.step_number - 1,
       CASE WHEN q.step_number = 1 THEN NULL ELSE CAST(:run_at AS timestamptz) - q.delay * interval '1 hour' END,
       0, 'ACTIVE'
FROM unnest(CAST(:cids AS bigint[]), CAST(:brokers AS bigint[]), CAST(:steps AS int[]), CAST(:delays AS float8[]),
            CAST(:quotas AS int[])) AS q(campaign_id, broker_id, step_number, delay, quota)
CROSS JOIN LATERAL (
    SELECT l.id FROM leads l
    WHERE l.broker_id = q.broker_id AND NOT ((l.id * :invalid_mult) % :invalid_mod < :invalid_cut)
      AND NOT EXISTS (SELECT 1 FROM campaign_enrolments e WHERE e.campaign_id = q.campaign_id AND e.lead_id = l.id)
    ORDER BY (l.id * 7919 + q.campaign_id * 104729 + :salt) % 1000003
    LIMIT q.quota
) l
RETURNING campaign_id
)
SELECT campaign_id, count(*) FROM inserted GROUP BY campaign_id
