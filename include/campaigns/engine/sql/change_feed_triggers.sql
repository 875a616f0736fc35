-- The change feed's triggers on leads (migration 0014) as they are now: 'A' = ENABLE ALWAYS.
SELECT t.tgname, t.tgenabled
FROM pg_trigger t
WHERE t.tgrelid = to_regclass('leads')
  AND t.tgname = ANY(:names)
