-- What the ledger already knows of a batch's keys (claimed by an earlier attempt, or just now).
SELECT d.idempotency_key, d.provider, d.provider_ref, d.status, d.error_code, d.error_message, d.updated_at
FROM message_deliveries d
JOIN ledger_batch b USING (idempotency_key)
