-- One row per inbound message, ever: a webhook Twilio retries (same MessageSid) inserts nothing, and then
-- changes nothing else either.
INSERT INTO lead_replies (broker_id, lead_id, channel, provider, provider_ref, from_address, body, kind, received_at)
VALUES (:broker, :lead, :channel, :provider, :ref, :sender, :body, :kind, :now)
ON CONFLICT (provider, provider_ref) DO NOTHING
RETURNING id
