-- Record a batch (COPYed into sandbox_batch) of which some keys were sent before: those keep their first answer
-- (idempotent re-send), the others are inserted and come back; the caller reads the first answers (sandbox.py; a
-- batch with no key seen before is COPYed straight in).
INSERT INTO outbound_messages (idempotency_key, channel, recipient, subject, body, campaign_id, lead_id,
                               step_number, status, provider_ref, error, requested_at)
SELECT idempotency_key, channel, recipient, subject, body, campaign_id, lead_id, step_number, status,
       provider_ref, error, requested_at
FROM sandbox_batch
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key, status, provider_ref, error
