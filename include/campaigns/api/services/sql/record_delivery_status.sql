-- A Twilio status callback: the delivery named by its SID (or, when the send's answer was lost, by the key
-- in the callback URL) moves forward only; a late or repeated callback changes nothing.
UPDATE message_deliveries d
SET status        = :status,
    provider_ref  = coalesce(d.provider_ref, :sid),
    error_code    = coalesce(CAST(:error_code AS text), d.error_code),
    error_message = coalesce(CAST(:error_message AS text), d.error_message),
    updated_at    = :now
WHERE d.provider = 'twilio'
  AND (d.provider_ref = :sid OR (d.provider_ref IS NULL AND d.idempotency_key = CAST(:key AS text)))
  AND delivery_status_rank(:status) > delivery_status_rank(d.status)
RETURNING d.idempotency_key
