-- Emergencies go first: an emergency that finds nobody may take the slot of
-- a routine visit offered to a caregiver but not accepted yet. The routine
-- visit goes back to the queue (VisitDeclined, reason 'preempted'; the
-- caregiver is not put on its decline list) in the same transaction as the
-- emergency's assignment.

-- Returns true when the bump was applied (false on a replay).
CREATE FUNCTION dd_visit_bump(p_district integer, p_id uuid, p_caregiver uuid, p_order text,
                              p_ev uuid, p_payload bytea) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET state = 'waiting', eta = NULL, planned_end = NULL, travel_s = NULL
     WHERE district_id = p_district AND id = p_id AND state = 'assigned'
       AND caregiver_id = p_caregiver;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM cc_append('VisitDeclined', p_ev, p_order, p_district, p_payload);
    RETURN true;
END $$;

-- dd_on_order_released plus a bump, applied only with the release.
CREATE FUNCTION dd_on_order_released_bump(p_producer text, p_seq bigint,
        p_event_id uuid, p_id uuid, p_order text, p_elder text, p_service text,
        p_ability text, p_emergency boolean, p_priority integer, p_district integer,
        p_lat double precision, p_lon double precision, p_ws bigint, p_we bigint,
        p_pref text, p_notes text, p_created bigint, p_caregiver uuid, p_provider text,
        p_eta bigint, p_end bigint, p_travel integer, p_ev uuid, p_payload bytea,
        p_b_district integer, p_b_id uuid, p_b_caregiver uuid, p_b_order text, p_b_ev uuid,
        p_b_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    r := dd_on_order_released(p_producer, p_seq, p_event_id, p_id, p_order, p_elder,
                              p_service, p_ability, p_emergency, p_priority, p_district,
                              p_lat, p_lon, p_ws, p_we, p_pref, p_notes, p_created,
                              p_caregiver, p_provider, p_eta, p_end, p_travel, p_ev,
                              p_payload);
    -- Only with the release (a replay bumps nothing twice: dd_visit_bump
    -- guards on the offer still standing).
    IF r = 'applied' THEN
        PERFORM dd_visit_bump(p_b_district, p_b_id, p_b_caregiver, p_b_order, p_b_ev,
                              p_b_payload);
    END IF;
    RETURN r;
END $$;

-- dd_visit_assign plus a bump (queue retry of an emergency).
CREATE FUNCTION dd_visit_assign_bump(p_district integer, p_id uuid, p_caregiver uuid,
        p_provider text, p_eta bigint, p_end bigint, p_travel integer, p_at bigint,
        p_order text, p_ev uuid, p_payload bytea, p_b_district integer, p_b_id uuid,
        p_b_caregiver uuid, p_b_order text, p_b_ev uuid, p_b_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM visits WHERE district_id = p_district AND id = p_id
                      AND state = 'waiting') THEN
        RETURN 'noop';   -- replayed: the bump was applied with it
    END IF;
    PERFORM dd_visit_bump(p_b_district, p_b_id, p_b_caregiver, p_b_order, p_b_ev, p_b_payload);
    RETURN dd_visit_assign(p_district, p_id, p_caregiver, p_provider, p_eta, p_end, p_travel,
                           p_at, p_order, p_ev, p_payload);
END $$;
