-- The provider's answers: its id (Twilio SID, SMTP Message-ID) and status per key. A status never moves back
-- (a receipt may have arrived first), an id already recorded is kept, and an id that another key holds is not
-- taken (the (provider, provider_ref) index is unique).
UPDATE message_deliveries d
SET provider_ref  = coalesce(d.provider_ref, r.provider_ref),
    status        = CASE WHEN delivery_status_rank(r.status) > delivery_status_rank(d.status) THEN r.status
                         ELSE d.status END,
    error_code    = coalesce(d.error_code, r.error_code),
    error_message = coalesce(d.error_message, r.error_message),
    updated_at    = clock_timestamp()
FROM ledger_result r
WHERE d.idempotency_key = r.idempotency_key
  AND (r.provider_ref IS NULL OR d.provider_ref IS NOT NULL OR NOT EXISTS (
        SELECT 1 FROM message_deliveries o
        WHERE o.provider = d.provider AND o.provider_ref = r.provider_ref AND o.idempotency_key <> d.idempotency_key))
