-- The elder's address for the visit, as orderd sealed it for dispatchd
-- (VisitReleased.address_sealed; services/common/cc_seal.h): stored as it
-- came, opened only to answer an authorised read (GET /v1/visits/{id};
-- docs/SECURITY.md "Personal data"). NULL: none came (an older release).
-- A nullable column without a default: no rewrite of visits.
ALTER TABLE visits ADD COLUMN address_sealed bytea;

-- The release functions take it as their last release parameter (before
-- the bump's): dropped and made again, as a changed parameter list needs.
DROP FUNCTION dd_on_order_released_bump(text, bigint, uuid, uuid, text, text, text, text,
    boolean, integer, integer, double precision, double precision, bigint, bigint, text, text,
    bigint, uuid, text, bigint, bigint, integer, uuid, bytea, integer, uuid, uuid, text, uuid,
    bytea);
DROP FUNCTION dd_on_order_released(text, bigint, uuid, uuid, text, text, text, text, boolean,
    integer, integer, double precision, double precision, bigint, bigint, text, text, bigint,
    uuid, text, bigint, bigint, integer, uuid, bytea);

-- As in 002_released_replay.sql, with the address stored.
CREATE FUNCTION dd_on_order_released(p_producer text, p_seq bigint,
        p_event_id uuid, p_id uuid, p_order text, p_elder text, p_service text,
        p_ability text, p_emergency boolean, p_priority integer, p_district integer,
        p_lat double precision, p_lon double precision, p_ws bigint, p_we bigint,
        p_pref text, p_notes text, p_created bigint, p_caregiver uuid, p_provider text,
        p_eta bigint, p_end bigint, p_travel integer, p_ev uuid, p_payload bytea,
        p_address bytea)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        IF EXISTS (SELECT 1 FROM visits WHERE district_id = p_district AND id = p_id) THEN
            RETURN 'applied';
        END IF;
        RETURN 'duplicate';
    END IF;
    IF EXISTS (SELECT 1 FROM visits WHERE district_id = p_district AND order_id = p_order) THEN
        RETURN 'exists';
    END IF;
    INSERT INTO visits (district_id, id, order_id, elder_id, service, ability_level, emergency,
                        priority, lat, lon, window_start, window_end, preferred_caregiver_id,
                        notes, state, caregiver_id, provider_id, eta, planned_end, travel_s,
                        assigned_at, created_at, address_sealed)
    VALUES (p_district, p_id, p_order, p_elder, p_service, p_ability, p_emergency, p_priority,
            p_lat, p_lon, dd_ts(p_ws), dd_ts(p_we), p_pref, p_notes,
            CASE WHEN p_caregiver IS NULL THEN 'waiting' ELSE 'assigned' END,
            p_caregiver, p_provider, dd_ts(p_eta), dd_ts(p_end), p_travel,
            CASE WHEN p_caregiver IS NULL THEN NULL ELSE dd_ts(p_created) END,
            dd_ts(p_created), p_address);
    IF p_caregiver IS NOT NULL THEN
        PERFORM cc_append('VisitAssigned', p_ev, p_order, p_district, p_payload);
    END IF;
    RETURN 'applied';
END $$;

-- As in 003_preempt.sql.
CREATE FUNCTION dd_on_order_released_bump(p_producer text, p_seq bigint,
        p_event_id uuid, p_id uuid, p_order text, p_elder text, p_service text,
        p_ability text, p_emergency boolean, p_priority integer, p_district integer,
        p_lat double precision, p_lon double precision, p_ws bigint, p_we bigint,
        p_pref text, p_notes text, p_created bigint, p_caregiver uuid, p_provider text,
        p_eta bigint, p_end bigint, p_travel integer, p_ev uuid, p_payload bytea,
        p_address bytea, p_b_district integer, p_b_id uuid, p_b_caregiver uuid,
        p_b_order text, p_b_ev uuid, p_b_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    r := dd_on_order_released(p_producer, p_seq, p_event_id, p_id, p_order, p_elder,
                              p_service, p_ability, p_emergency, p_priority, p_district,
                              p_lat, p_lon, p_ws, p_we, p_pref, p_notes, p_created,
                              p_caregiver, p_provider, p_eta, p_end, p_travel, p_ev,
                              p_payload, p_address);
    -- Only with the release (a replay bumps nothing twice: dd_visit_bump
    -- guards on the offer still standing).
    IF r = 'applied' THEN
        PERFORM dd_visit_bump(p_b_district, p_b_id, p_b_caregiver, p_b_order, p_b_ev,
                              p_b_payload);
    END IF;
    RETURN r;
END $$;

-- New functions: 006_runtime_role.sql's grant went with the old ones.
REVOKE EXECUTE ON FUNCTION dd_on_order_released, dd_on_order_released_bump FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dd_on_order_released, dd_on_order_released_bump TO dispatchd_rt;
