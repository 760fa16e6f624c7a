-- Masking that cannot be undone (issue 12). The birth date is sealed like
-- the ID number (birth_enc); only the year stays in clear, for age bands.
-- The masked ID number keeps the region code and nothing after it; the
-- old form (first four, last four) is cleared here and written anew from
-- the sealed number when the store opens (see Store::seal_legacy_people),
-- as is every clear birth date. The partial index finds those rows.
ALTER TABLE person ADD COLUMN birth_year INTEGER;
ALTER TABLE person ADD COLUMN birth_enc {BLOB};
UPDATE person SET birth_year = CAST(substr(birth_date, 1, 4) AS INTEGER) WHERE birth_date IS NOT NULL;
UPDATE person SET id_masked = NULL WHERE id_enc IS NOT NULL;
CREATE INDEX person_unsealed ON person(id) WHERE birth_date IS NOT NULL OR (id_enc IS NOT NULL AND id_masked IS NULL);

-- Originals of free text in which ID numbers or phones were found: the
-- text columns hold the masked form, the original is sealed here for
-- those who may unmask.
CREATE TABLE sealed_text (
    id {ID},
    case_id BIGINT NOT NULL REFERENCES service_case(id),
    event_id BIGINT,
    field TEXT NOT NULL,
    sealed {BLOB} NOT NULL
);
CREATE INDEX sealed_text_case ON sealed_text(case_id);

-- One case per (channel, external id): two simultaneous transfers of the
-- same hotline ticket make one case. Copies made before this constraint
-- keep their first case; later ones are renamed with a '#dup' suffix and
-- their id, so nothing is lost and the rename is visible.
UPDATE service_case SET external_id = external_id || '#dup' || CAST(id AS TEXT)
 WHERE external_id IS NOT NULL
   AND id <> (SELECT MIN(o.id) FROM service_case o WHERE o.channel = service_case.channel AND o.external_id = service_case.external_id);
DROP INDEX service_case_external;
CREATE UNIQUE INDEX service_case_external ON service_case(channel, external_id) WHERE external_id IS NOT NULL;

-- A keyed audit chain: entries after keyed_from are linked by HMAC-SHA256
-- under the audit key; those before (written by earlier versions) keep
-- their plain SHA-256 links, and verification says how many there are.
-- keyed_mac signs keyed_from with the audit key (written by the migration
-- runner in this same transaction), so that nobody without the key can
-- move the start of the keyed chain and pass entries off as old ones.
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN keyed_mac TEXT;
-- Each recorded entry is signed by its writer (see audit::pending_mac);
-- entries waiting at the upgrade are signed by the migration runner.
ALTER TABLE audit_pending ADD COLUMN mac TEXT;
UPDATE audit_head SET keyed_from = last_seq;
