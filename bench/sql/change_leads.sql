-- (b): 5 % of the valid leads change, a third each: score, stage (the next one in the broker's own
-- pipeline), last activity; updated_at bumped as a CRM does.
UPDATE leads l SET
    score = CASE WHEN (l.id / 20) % 3 = 0 THEN least(100, l.score + 10 + (l.id % 31)) ELSE l.score END,
    stage = CASE WHEN (l.id / 20) % 3 = 1 THEN s.next_stage ELSE l.stage END,
    last_activity_at = CASE WHEN (l.id / 20) % 3 = 2
                            THEN CAST(:at AS timestamptz) - (l.id % 50) * interval '1 minute'
                            ELSE l.last_activity_at END,
    updated_at = CAST(:at AS timestamptz)
FROM bench.broker_stages s
WHERE s.broker_id = l.broker_id AND s.stage = l.stage
  AND l.id % 20 = :slot
  AND NOT ((l.id * :invalid_mult) % :invalid_mod < :invalid_cut)
