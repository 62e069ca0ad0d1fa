-- Elder records that live (issue 13, elders module: services/orderd/od_elders.c):
-- PATCH, status, contacts, search by name, history and bulk import.
--
-- name_idx, address_idx  blind indexes (services/orderd/od_pii.h) of the
--                  sealed name (exact-name search) and address (an import
--                  tells an unchanged address from a changed one without
--                  opening it). NULL on rows sealed before this migration:
--                  orderd fills them in the background after start.
-- elder_history    every change of a record: who (the token's subject),
--                  when, what. changes maps each field to {old, new} for
--                  plain fields and to "changed" for personal ones (name,
--                  ID number, phone, address, birth date, location,
--                  contacts' names and phones): never a personal value.
--                  action 'assessment' is for the assessments module
--                  (018 updates the elder without a history row yet).
-- elder_imports    a county roster's import: progress, counts, rejected
--                  rows (row, field, reason; never the value).
--
-- Plans and duties generate only for elders with status = 'active' (they
-- read the column): a death or a move needs nothing from those modules.
ALTER TABLE elders
    ADD COLUMN name_idx bytea,
    ADD COLUMN address_idx bytea;
CREATE INDEX elders_name_idx ON elders (name_idx);

CREATE TABLE elder_history (
    id       bigserial   PRIMARY KEY,
    elder_id uuid        NOT NULL REFERENCES elders (id),
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    who      text        NOT NULL,
    action   text        NOT NULL CHECK (action IN ('patch', 'status', 'import_create',
                                                    'import_update', 'assessment')),
    changes  jsonb       NOT NULL
);
CREATE INDEX elder_history_elder ON elder_history (elder_id, id);

CREATE TABLE elder_imports (
    id          uuid        PRIMARY KEY,
    who         text        NOT NULL,
    state       text        NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'done', 'interrupted')),
    total       integer     NOT NULL,
    done        integer     NOT NULL DEFAULT 0,
    created     integer     NOT NULL DEFAULT 0,
    updated     integer     NOT NULL DEFAULT 0,
    unchanged   integer     NOT NULL DEFAULT 0,
    rejected    jsonb       NOT NULL DEFAULT '[]',
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
);

-- Fields a change may set besides the sealed ones, and which of them are
-- personal (history says "changed", never the value).
CREATE FUNCTION od_elder_field_personal(p_field text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT p_field IN ('lat', 'lon', 'birth_date') $$;

-- Change one elder: p_set holds plain fields by column name (district_id,
-- lat, lon, birth_date, ability_level, household, living, disability_grade
-- (null clears), diet, categories); each sealed field comes with its blind
-- index (NULL both: unchanged). p_contacts (NULL: unchanged) replaces the
-- contacts: [{id, priority, relation, name, phone}], name and phone sealed,
-- hex. p_rev (NULL: any) must be the record's rev.
-- outcome: updated | unchanged | unknown_elder | stale_rev | duplicate_id_number.
CREATE FUNCTION od_elder_change(p_id uuid, p_rev bigint, p_who text, p_action text,
        p_set jsonb, p_key integer, p_name bytea, p_name_idx bytea, p_id_number bytea,
        p_id_number_idx bytea, p_phone bytea, p_phone_idx bytea, p_address bytea,
        p_address_idx bytea, p_contacts jsonb)
RETURNS TABLE (outcome text, rev bigint, changes jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_old elders;
    v_new elders;
    v_ch jsonb := '{}';
    v_k text;
    v_o jsonb;
    v_n jsonb;
    v_old_c jsonb;
    v_new_c jsonb;
BEGIN
    SELECT * INTO v_old FROM elders e WHERE e.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text, NULL::bigint, NULL::jsonb;
        RETURN;
    END IF;
    IF p_rev IS NOT NULL AND p_rev <> v_old.rev THEN
        RETURN QUERY SELECT 'stale_rev'::text, v_old.rev, NULL::jsonb;
        RETURN;
    END IF;
    IF p_id_number_idx IS NOT NULL AND p_id_number_idx IS DISTINCT FROM v_old.id_number_idx
       AND EXISTS (SELECT 1 FROM elders e WHERE e.id_number_idx = p_id_number_idx) THEN
        RETURN QUERY SELECT 'duplicate_id_number'::text, v_old.rev, NULL::jsonb;
        RETURN;
    END IF;
    v_new := jsonb_populate_record(v_old, coalesce(p_set, '{}'));
    FOR v_k IN SELECT jsonb_object_keys(coalesce(p_set, '{}')) LOOP
        IF v_k NOT IN ('district_id', 'lat', 'lon', 'birth_date', 'ability_level', 'household',
                       'living', 'disability_grade', 'diet', 'categories') THEN
            RAISE EXCEPTION 'od_elder_change: % is not a field a change may set', v_k;
        END IF;
        v_o := to_jsonb(v_old) -> v_k;
        v_n := to_jsonb(v_new) -> v_k;
        IF v_o IS DISTINCT FROM v_n THEN
            v_ch := v_ch || jsonb_build_object(v_k, CASE WHEN od_elder_field_personal(v_k)
                THEN to_jsonb('changed'::text) ELSE jsonb_build_object('old', v_o, 'new', v_n) END);
        END IF;
    END LOOP;
    IF p_name_idx IS NOT NULL AND p_name_idx IS DISTINCT FROM v_old.name_idx THEN
        v_ch := v_ch || '{"name": "changed"}';
        v_new.name_enc := p_name;
        v_new.name_idx := p_name_idx;
    END IF;
    IF p_id_number_idx IS NOT NULL AND p_id_number_idx IS DISTINCT FROM v_old.id_number_idx THEN
        v_ch := v_ch || '{"id_number": "changed"}';
        v_new.id_number_enc := p_id_number;
        v_new.id_number_idx := p_id_number_idx;
    END IF;
    IF p_phone_idx IS NOT NULL AND p_phone_idx IS DISTINCT FROM v_old.phone_idx THEN
        v_ch := v_ch || '{"phone": "changed"}';
        v_new.phone_enc := p_phone;
        v_new.phone_idx := p_phone_idx;
    END IF;
    IF p_address_idx IS NOT NULL AND p_address_idx IS DISTINCT FROM v_old.address_idx THEN
        v_ch := v_ch || '{"address": "changed"}';
        v_new.address_enc := p_address;
        v_new.address_idx := p_address_idx;
    END IF;
    IF p_contacts IS NOT NULL THEN
        -- Relations and priorities are plain; names and phones are not: a
        -- replaced list is always a change (sealed values cannot be compared).
        SELECT coalesce(jsonb_agg(jsonb_build_object('priority', c.priority,
                        'relation', c.relation) ORDER BY c.priority), '[]')
          INTO v_old_c FROM elder_contacts c WHERE c.elder_id = p_id;
        SELECT coalesce(jsonb_agg(jsonb_build_object('priority', (x ->> 'priority')::smallint,
                        'relation', x ->> 'relation') ORDER BY (x ->> 'priority')::smallint), '[]')
          INTO v_new_c FROM jsonb_array_elements(p_contacts) x;
        DELETE FROM elder_contacts c WHERE c.elder_id = p_id;
        INSERT INTO elder_contacts (id, elder_id, priority, relation, pii_key, name_enc, phone_enc)
        SELECT (x ->> 'id')::uuid, p_id, (x ->> 'priority')::smallint, x ->> 'relation', p_key,
               decode(x ->> 'name', 'hex'), decode(x ->> 'phone', 'hex')
          FROM jsonb_array_elements(p_contacts) x;
        v_ch := v_ch || jsonb_build_object('contacts', jsonb_build_object('old', v_old_c,
                                           'new', v_new_c, 'names_and_phones', 'changed'));
    END IF;
    IF v_ch = '{}' THEN
        RETURN QUERY SELECT 'unchanged'::text, v_old.rev, v_ch;
        RETURN;
    END IF;
    UPDATE elders e SET district_id = v_new.district_id, lat = v_new.lat, lon = v_new.lon,
           birth_date = v_new.birth_date, ability_level = v_new.ability_level,
           household = v_new.household, living = v_new.living,
           disability_grade = v_new.disability_grade, diet = v_new.diet,
           categories = v_new.categories, name_enc = v_new.name_enc, name_idx = v_new.name_idx,
           id_number_enc = v_new.id_number_enc, id_number_idx = v_new.id_number_idx,
           phone_enc = v_new.phone_enc, phone_idx = v_new.phone_idx,
           address_enc = v_new.address_enc, address_idx = v_new.address_idx,
           rev = v_old.rev + 1, updated_at = clock_timestamp()
     WHERE e.id = p_id;
    INSERT INTO elder_history (elder_id, who, action, changes) VALUES (p_id, p_who, p_action, v_ch);
    RETURN QUERY SELECT 'updated'::text, v_old.rev + 1, v_ch;
END $$;

-- A status change. deceased is final. outcome: changed | unchanged |
-- unknown_elder | final (deceased already).
CREATE FUNCTION od_elder_set_status(p_id uuid, p_status text, p_reason text, p_who text)
RETURNS TABLE (outcome text, rev bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_old elders;
BEGIN
    SELECT * INTO v_old FROM elders e WHERE e.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text, NULL::bigint;
        RETURN;
    END IF;
    IF v_old.status = p_status THEN
        RETURN QUERY SELECT 'unchanged'::text, v_old.rev;
        RETURN;
    END IF;
    IF v_old.status = 'deceased' THEN
        RETURN QUERY SELECT 'final'::text, v_old.rev;
        RETURN;
    END IF;
    UPDATE elders e SET status = p_status, status_at = clock_timestamp(), rev = v_old.rev + 1,
           updated_at = clock_timestamp() WHERE e.id = p_id;
    INSERT INTO elder_history (elder_id, who, action, changes)
    VALUES (p_id, p_who, 'status', jsonb_build_object('status', jsonb_build_object(
            'old', v_old.status, 'new', p_status), 'reason', p_reason));
    RETURN QUERY SELECT 'changed'::text, v_old.rev + 1;
END $$;

-- One batch of an import: p_rows [{row, id, set (as od_elder_change's
-- p_set), name, name_idx, id_number, id_number_idx, phone, phone_idx,
-- address, address_idx}] (bytea as hex). A row whose ID number is known
-- changes that elder (or nothing); another creates one. Counts go to the
-- import in the same transaction. Returns each row's outcome and elder.
CREATE FUNCTION od_elder_import_batch(p_import uuid, p_who text, p_key integer, p_rows jsonb,
        p_last boolean)
RETURNS TABLE (row_no integer, outcome text, elder_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    x jsonb;
    v_id uuid;
    v_out text;
    v_c integer := 0;
    v_u integer := 0;
    v_s integer := 0;
    v_set jsonb;
BEGIN
    FOR x IN SELECT * FROM jsonb_array_elements(p_rows) LOOP
        v_set := x -> 'set';
        SELECT e.id INTO v_id FROM elders e WHERE e.id_number_idx = decode(x ->> 'id_number_idx', 'hex');
        IF FOUND THEN
            SELECT c.outcome INTO v_out FROM od_elder_change(v_id, NULL, p_who, 'import_update',
                v_set, p_key, decode(x ->> 'name', 'hex'), decode(x ->> 'name_idx', 'hex'),
                NULL, NULL, decode(x ->> 'phone', 'hex'), decode(x ->> 'phone_idx', 'hex'),
                decode(x ->> 'address', 'hex'), decode(x ->> 'address_idx', 'hex'), NULL) c;
            IF v_out = 'updated' THEN v_u := v_u + 1; ELSE v_s := v_s + 1; v_out := 'unchanged'; END IF;
        ELSE
            v_id := (x ->> 'id')::uuid;
            INSERT INTO elders (id, district_id, pii_key, name_enc, name_idx, id_number_enc,
                                id_number_idx, phone_enc, phone_idx, address_enc, address_idx,
                                lat, lon, birth_date, ability_level, household, living,
                                disability_grade, diet, categories)
            VALUES (v_id, (v_set ->> 'district_id')::integer, p_key, decode(x ->> 'name', 'hex'),
                    decode(x ->> 'name_idx', 'hex'), decode(x ->> 'id_number', 'hex'),
                    decode(x ->> 'id_number_idx', 'hex'), decode(x ->> 'phone', 'hex'),
                    decode(x ->> 'phone_idx', 'hex'), decode(x ->> 'address', 'hex'),
                    decode(x ->> 'address_idx', 'hex'), (v_set ->> 'lat')::float8,
                    (v_set ->> 'lon')::float8, (v_set ->> 'birth_date')::date,
                    v_set ->> 'ability_level', v_set ->> 'household', v_set ->> 'living',
                    (v_set ->> 'disability_grade')::smallint, coalesce(v_set ->> 'diet', ''),
                    coalesce(ARRAY(SELECT jsonb_array_elements_text(v_set -> 'categories')),
                             '{}'));
            INSERT INTO elder_history (elder_id, who, action, changes)
            VALUES (v_id, p_who, 'import_create', jsonb_build_object('import_id', p_import));
            v_c := v_c + 1;
            v_out := 'created';
        END IF;
        RETURN QUERY SELECT (x ->> 'row')::integer, v_out, v_id;
    END LOOP;
    UPDATE elder_imports i SET done = i.done + jsonb_array_length(p_rows), created = i.created + v_c,
           updated = i.updated + v_u, unchanged = i.unchanged + v_s,
           state = CASE WHEN p_last THEN 'done' ELSE i.state END,
           finished_at = CASE WHEN p_last THEN clock_timestamp() END
     WHERE i.id = p_import;
END $$;

-- Blind indexes for a row sealed before they existed (background, at start).
CREATE FUNCTION od_elder_index_fill(p_id uuid, p_name_idx bytea, p_address_idx bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE elders e SET name_idx = p_name_idx, address_idx = p_address_idx
     WHERE e.id = p_id AND (e.name_idx IS NULL OR e.address_idx IS NULL);
    RETURN QUERY SELECT CASE WHEN FOUND THEN 'filled' ELSE 'gone' END;
END $$;

-- POST /v1/elders stores the name's and the address's blind indexes with
-- the row (the same function, two more parameters).
DROP FUNCTION od_elder_create(uuid, integer, integer, bytea, bytea, bytea, bytea, bytea, bytea,
                              double precision, double precision, date, text, text, text,
                              smallint, text);
CREATE FUNCTION od_elder_create(p_id uuid, p_district integer, p_key integer,
        p_name bytea, p_name_idx bytea, p_id_number bytea, p_id_number_idx bytea, p_phone bytea,
        p_phone_idx bytea, p_address bytea, p_address_idx bytea, p_lat double precision,
        p_lon double precision, p_birth date, p_ability text, p_household text,
        p_living text, p_disability smallint, p_diet text)
RETURNS TABLE (outcome text, elder_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_existing uuid;
BEGIN
    INSERT INTO elders (id, district_id, pii_key, name_enc, name_idx, id_number_enc,
                        id_number_idx, phone_enc, phone_idx, address_enc, address_idx, lat, lon,
                        birth_date, ability_level, household, living, disability_grade, diet)
    VALUES (p_id, p_district, p_key, p_name, p_name_idx, p_id_number, p_id_number_idx, p_phone,
            p_phone_idx, p_address, p_address_idx, p_lat, p_lon, p_birth, p_ability,
            p_household, p_living, p_disability, coalesce(p_diet, ''))
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

GRANT SELECT, INSERT ON elder_history, elder_imports TO orderd_rt;
GRANT UPDATE (state, done, created, updated, unchanged, finished_at) ON elder_imports TO orderd_rt;
GRANT USAGE ON SEQUENCE elder_history_id_seq TO orderd_rt;
GRANT UPDATE (district_id, lat, lon, birth_date, household, living, disability_grade, diet,
              name_idx, address_idx) ON elders TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_elder_create, od_elder_field_personal, od_elder_change, od_elder_set_status,
    od_elder_import_batch, od_elder_index_fill TO orderd_rt;
