-- Forget the claims of messages the provider certainly did not send (it answered with an error, or the
-- connection was refused), so that a retry may send them.
DELETE FROM message_deliveries
WHERE idempotency_key = ANY(:keys) AND provider = :provider AND status = 'requesting' AND provider_ref IS NULL
