-- Claim each message of a batch before it is sent: the first claim of a key wins, so two attempts (a retry,
-- an abandoned call that is still running, an overlapping run) can never both send it. `updated_at` is the
-- wall-clock time of the claim (compared with the provider's own clock when an answer was lost).
INSERT INTO message_deliveries (idempotency_key, campaign_id, lead_id, step_number, broker_id, channel, provider,
                                status, sent_at, updated_at)
SELECT b.idempotency_key, b.campaign_id, b.lead_id, b.step_number, b.broker_id, b.channel, :provider,
       'requesting', b.requested_at, clock_timestamp()
FROM ledger_batch b
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING idempotency_key
