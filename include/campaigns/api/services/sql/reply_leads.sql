-- The leads a reply may come from: every lead with the sender's number (its digits), in the broker the
-- receiving number belongs to (:broker), or -- for a number several brokers share (:broker null) -- in a
-- broker without a number of its own on this channel (not in :excluded). Most recently written to on this
-- channel first, so a shared number's reply goes to the broker whose campaign last wrote to that phone.
SELECT l.id, l.broker_id, coalesce(l.email, '') AS email,
       (SELECT max(d.updated_at) FROM message_deliveries d
        WHERE d.lead_id = l.id AND d.channel = :channel) AS last_contact
FROM leads l
WHERE l.phone IS NOT NULL
  AND regexp_replace(l.phone, '[^0-9]', '', 'g') = :digits
  AND (CAST(:broker AS bigint) IS NULL OR l.broker_id = CAST(:broker AS bigint))
  AND NOT (l.broker_id = ANY(CAST(:excluded AS bigint[])))
ORDER BY last_contact DESC NULLS LAST, l.id
