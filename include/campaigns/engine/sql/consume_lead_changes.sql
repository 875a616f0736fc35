-- The change rows this sweep staged from are done with: its snapshots now hold what it read of those leads.
DELETE FROM lead_changes c
USING run_lead_changes r
WHERE r.run_id = :run_id
  AND c.change_id = r.change_id
