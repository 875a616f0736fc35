-- A followed unsubscribe link: recorded once per (lead, campaign, step) link, and the lead is not contacted
-- again. Following it twice changes nothing more.
WITH lead AS (
    SELECT id, broker_id, coalesce(email, '') AS email FROM leads WHERE id = :lead
), recorded AS (
    INSERT INTO lead_replies (broker_id, lead_id, channel, provider, provider_ref, from_address, body, kind,
                              received_at)
    SELECT broker_id, id, 'email', 'unsubscribe_link', :ref, email, NULL, 'unsubscribe', :now FROM lead
    ON CONFLICT (provider, provider_ref) DO NOTHING
    RETURNING 1
), flagged AS (
    UPDATE leads l SET do_not_contact = true FROM lead WHERE l.id = lead.id AND NOT l.do_not_contact RETURNING 1
)
SELECT (SELECT count(*) FROM lead) AS found, (SELECT count(*) FROM recorded) AS recorded,
       (SELECT count(*) FROM flagged) AS flagged,
       (SELECT b.name FROM brokers b JOIN lead ON b.id = lead.broker_id) AS broker_name
