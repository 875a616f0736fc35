-- Serialise bookings per agent across concurrent chunks and runs; ascending order avoids deadlocks.
SELECT count(pg_advisory_xact_lock(CAST(:ns AS int), CAST(a AS int)))
FROM (SELECT unnest(CAST(:ids AS bigint[])) AS a ORDER BY 1) agents
