-- Record a batch in one statement; a key seen before keeps its first answer (idempotent re-send): the rows
-- inserted now come back, the keys that were already there are read by the caller.
INSERT INTO outbound_messages (idempotency_key, channel, recipient, subject, body, campaign_id, lead_id,
                               step_number, status, provider_ref, error, requested_at)
SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:channels AS text[]), CAST(:recipients AS text[]),
                     CAST(:subjects AS text[]), CAST(:bodies AS text[]), CAST(:campaign_ids AS bigint[]),
                     CAST(:lead_ids AS bigint[]), CAST(:step_numbers AS int[]), CAST(:statuses AS text[]),
                     CAST(:refs AS text[]), CAST(:errors AS text[]), CAST(:requested_at AS timestamptz[]))
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key, status, provider_ref, error
