-- ~5 % of the valid leads (never a deliberately malformed one), each with the stage it came from in its
-- broker's funnel; leads in a first stage have none and stay.
CREATE TABLE bench.movers AS
SELECT l.id, l.stage, s.previous_stage
FROM leads l
JOIN bench.broker_stages s ON s.broker_id = l.broker_id AND s.stage = l.stage
WHERE (l.id * 2654435761) % 100 < 5
  AND NOT ((l.id * :invalid_mult) % :invalid_mod < :invalid_cut)
  AND s.previous_stage IS NOT NULL
  AND s.previous_stage <> l.stage
