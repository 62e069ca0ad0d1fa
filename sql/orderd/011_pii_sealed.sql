-- Personal data sealed at rest (docs/SECURITY.md, "Personal data";
-- services/orderd/od_pii.h). The key lives only in orderd, so this file
-- adds the sealed columns and the blind indexes and changes no row: orderd
-- seals the rows it finds in clear (an upgrade) in batches at start, before
-- it serves, and re-seals rows under an old key in the background after a
-- key rotation.
--
--   <col>_enc      version | key id | nonce | XChaCha20-Poly1305 ciphertext
--   <col>_idx      keyed BLAKE2b of the normalised value (lookups)
--   pii_key        key id the row's values are sealed under (rotation
--                  finds the rows still under the old key by it)
--
-- The plain columns stay for the upgrade's sake and are NULL in every
-- sealed row; elders_sealed refuses a new row or an update that would
-- store them again (NOT VALID: rows from before are sealed by orderd). A
-- later migration validates the constraint (it fails while a row is still
-- in clear) and drops the plain columns.
ALTER TABLE elders
    ADD COLUMN pii_key        integer,
    ADD COLUMN name_enc       bytea,
    ADD COLUMN id_number_enc  bytea,
    ADD COLUMN id_number_idx  bytea,
    ADD COLUMN phone_enc      bytea,
    ADD COLUMN phone_idx      bytea,
    ADD COLUMN address_enc    bytea,
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN id_number DROP NOT NULL,
    ALTER COLUMN phone DROP NOT NULL,
    ALTER COLUMN address DROP NOT NULL,
    ADD CONSTRAINT elders_sealed CHECK (
        name IS NULL AND id_number IS NULL AND phone IS NULL AND address IS NULL
        AND pii_key IS NOT NULL AND name_enc IS NOT NULL AND id_number_enc IS NOT NULL
        AND id_number_idx IS NOT NULL AND phone_enc IS NOT NULL AND phone_idx IS NOT NULL
        AND address_enc IS NOT NULL) NOT VALID;

-- The plain indexes hold every ID number and phone in clear: gone with
-- their files. One person, one record is now the blind index's rule; the
-- operator's phone search uses the phone's.
DROP INDEX elders_id_number;
DROP INDEX elders_phone;
CREATE UNIQUE INDEX elders_id_number_idx ON elders (id_number_idx);
CREATE INDEX elders_phone_idx ON elders (phone_idx);
-- Rows not under the active key (NULL: in clear).
CREATE INDEX elders_pii_key ON elders (pii_key);

-- outcome: created | duplicate_id_number (elder_id is the existing one).
-- A re-sent batch (reconnect after COMMIT was sent) finds its own row by id.
DROP FUNCTION od_elder_create(uuid, integer, text, text, text, text, double precision,
                              double precision, date, text, text, text, smallint, text);
CREATE FUNCTION od_elder_create(p_id uuid, p_district integer, p_key integer,
        p_name bytea, p_id_number bytea, p_id_number_idx bytea, p_phone bytea,
        p_phone_idx bytea, p_address bytea, p_lat double precision,
        p_lon double precision, p_birth date, p_ability text, p_household text,
        p_living text, p_disability smallint, p_diet text)
RETURNS TABLE (outcome text, elder_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_existing uuid;
BEGIN
    INSERT INTO elders (id, district_id, pii_key, name_enc, id_number_enc, id_number_idx,
                        phone_enc, phone_idx, address_enc, lat, lon, birth_date,
                        ability_level, household, living, disability_grade, diet)
    VALUES (p_id, p_district, p_key, p_name, p_id_number, p_id_number_idx, p_phone,
            p_phone_idx, p_address, p_lat, p_lon, p_birth, p_ability, p_household, p_living,
            p_disability, coalesce(p_diet, ''))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN QUERY SELECT 'created'::text, p_id;
        RETURN;
    END IF;
    SELECT e.id INTO v_existing FROM elders e WHERE e.id = p_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'created'::text, p_id;
        RETURN;
    END IF;
    SELECT e.id INTO v_existing FROM elders e WHERE e.id_number_idx = p_id_number_idx;
    RETURN QUERY SELECT 'duplicate_id_number'::text, v_existing;
END $$;

-- Seal one row: from its plain columns (p_from NULL) or from the old key
-- (p_from = the old key id). outcome: resealed | gone (the row is no longer
-- under p_from: done already, e.g. a batch re-sent after reconnect).
CREATE FUNCTION od_elder_reseal(p_id uuid, p_from integer, p_key integer, p_name bytea,
        p_id_number bytea, p_id_number_idx bytea, p_phone bytea, p_phone_idx bytea,
        p_address bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE elders SET pii_key = p_key, name_enc = p_name, id_number_enc = p_id_number,
                      id_number_idx = p_id_number_idx, phone_enc = p_phone,
                      phone_idx = p_phone_idx, address_enc = p_address,
                      name = NULL, id_number = NULL, phone = NULL, address = NULL
     WHERE id = p_id AND pii_key IS NOT DISTINCT FROM p_from;
    RETURN QUERY SELECT CASE WHEN FOUND THEN 'resealed' ELSE 'gone' END;
END $$;

-- Sealing updates these columns and no others; no other UPDATE on elders.
GRANT UPDATE (pii_key, name_enc, id_number_enc, id_number_idx, phone_enc, phone_idx,
              address_enc, name, id_number, phone, address) ON elders TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_elder_create, od_elder_reseal TO orderd_rt;
