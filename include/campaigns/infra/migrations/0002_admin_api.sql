-- 0002: what the admin API needs.

-- Which broker(s) an Airflow user administers through the admin API (/api/v1/campaigns...).
-- `username` is the Airflow user name (the `sub` of the Airflow JWT). An Airflow admin with no row
-- here is refused (403): being an Airflow admin says "may use the API", this table says "for which broker".
-- Grant with: .venv/bin/python -m include.campaigns.api grant <username> <broker_id> [...]
CREATE TABLE broker_admins (
    username    text NOT NULL CHECK (username <> ''),
    broker_id   bigint NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, broker_id)
);

-- The admin API lists a broker's campaigns page by page, optionally by status.
CREATE INDEX campaigns_broker_status_idx ON campaigns (broker_id, status, id);
