-- The frequency caps of the chunk's brokers (channel null = every channel).
SELECT broker_id, channel, max_contacts, per_hours FROM frequency_caps WHERE broker_id = ANY(CAST(:ids AS bigint[]))
