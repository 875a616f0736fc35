-- Record a batch (COPYed into sandbox_batch) in one statement; a key seen before keeps its first answer
-- (idempotent re-send): the rows inserted now come back, the keys that were already there are read by the caller.
-- Plainly first; with ON CONFLICT (idempotency_key) DO NOTHING only after a unique violation (insert_once).
INSERT INTO outbound_messages (idempotency_key, channel, recipient, subject, body, campaign_id, lead_id,
                               step_number, status, provider_ref, error, requested_at)
SELECT idempotency_key, channel, recipient, subject, body, campaign_id, lead_id, step_number, status,
       provider_ref, error, requested_at
FROM sandbox_batch
{{ on_conflict }}
RETURNING idempotency_key, status, provider_ref, error
