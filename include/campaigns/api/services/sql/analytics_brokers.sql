-- The brokers the caller may see, with their names and time zones (a granted broker the CRM has not named yet
-- is listed all the same).
SELECT g.id, b.name, coalesce(b.timezone, 'UTC') AS timezone
FROM unnest(CAST(:brokers AS bigint[])) AS g(id)
LEFT JOIN brokers b ON b.id = g.id
ORDER BY g.id
