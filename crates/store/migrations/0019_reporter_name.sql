-- Reporters' names are personal data: the case keeps the name sealed
-- (reporter_name_enc, shown in full only on the audited 查看原文 view) and
-- its mask in reporter_name (张**), which lists, pages and exports show.
-- Cases written before this migration have a clear name and no sealed one;
-- the partial index finds them for the sealing that servers run in the
-- background (Store::seal_legacy_cases) and is empty once that is done.
ALTER TABLE service_case ADD COLUMN reporter_name_enc {BLOB};
CREATE INDEX service_case_clear_reporter ON service_case(id) WHERE reporter_name IS NOT NULL AND reporter_name_enc IS NULL;
