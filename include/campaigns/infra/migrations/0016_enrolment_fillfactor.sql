-- 0016: room on each page of campaign_enrolments for the new version of a row, so a chunk's cursor update
-- (last step, its time, contacts) is a HOT update: one heap write instead of a new row version plus an entry in
-- each of its indexes. Applies to pages written from now on; `VACUUM FULL campaign_enrolments` rewrites the
-- existing ones (docs/production.md).
ALTER TABLE campaign_enrolments SET (fillfactor = 75);
