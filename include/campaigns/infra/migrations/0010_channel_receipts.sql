-- 0010: real channels (issue 11): the order of delivery statuses, and finding a lead by the number it
-- writes from.

-- How far a message or call has got. A receipt only moves a delivery forward: Twilio's callbacks can
-- arrive out of order (a late "sent" after "delivered") and are retried, and a final status (>= 10) is
-- never replaced by another final one. 'requesting' is the adapter's claim before the provider answered.
CREATE FUNCTION delivery_status_rank(status text) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'requesting' THEN 0
        WHEN 'accepted' THEN 1 WHEN 'scheduled' THEN 1
        WHEN 'queued' THEN 2
        WHEN 'sending' THEN 3 WHEN 'initiated' THEN 3
        WHEN 'sent' THEN 4 WHEN 'ringing' THEN 4
        WHEN 'in-progress' THEN 5 WHEN 'answered' THEN 5
        WHEN 'delivered' THEN 10 WHEN 'undelivered' THEN 10 WHEN 'failed' THEN 10 WHEN 'canceled' THEN 10
        WHEN 'completed' THEN 10 WHEN 'busy' THEN 10 WHEN 'no-answer' THEN 10
        WHEN 'read' THEN 11
        ELSE -1
    END
$$;

-- An inbound SMS / WhatsApp message names the sender in E.164 (+5215512345678); a lead is found by the
-- digits of its phone (then by the broker the receiving number belongs to).
CREATE INDEX leads_phone_digits_idx ON leads ((regexp_replace(phone, '[^0-9]', '', 'g'))) WHERE phone IS NOT NULL;
