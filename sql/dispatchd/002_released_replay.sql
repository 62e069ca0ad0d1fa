-- A batch re-sent after a lost COMMIT (cc_db reconnect) may have committed
-- already: dd_on_order_released then finds its own event consumed and its
-- own visit stored. That is our decision, applied: report 'applied' so the
-- daemon keeps the visit it holds in memory. Only a different visit for the
-- order (or an event consumed without one) is 'duplicate' / 'exists'.
CREATE OR REPLACE FUNCTION dd_on_order_released(p_producer text, p_seq bigint,
        p_event_id uuid, p_id uuid, p_order text, p_elder text, p_service text,
        p_ability text, p_emergency boolean, p_priority integer, p_district integer,
        p_lat double precision, p_lon double precision, p_ws bigint, p_we bigint,
        p_pref text, p_notes text, p_created bigint, p_caregiver uuid, p_provider text,
        p_eta bigint, p_end bigint, p_travel integer, p_ev uuid, p_payload bytea)
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
                        assigned_at, created_at)
    VALUES (p_district, p_id, p_order, p_elder, p_service, p_ability, p_emergency, p_priority,
            p_lat, p_lon, dd_ts(p_ws), dd_ts(p_we), p_pref, p_notes,
            CASE WHEN p_caregiver IS NULL THEN 'waiting' ELSE 'assigned' END,
            p_caregiver, p_provider, dd_ts(p_eta), dd_ts(p_end), p_travel,
            CASE WHEN p_caregiver IS NULL THEN NULL ELSE dd_ts(p_created) END,
            dd_ts(p_created));
    IF p_caregiver IS NOT NULL THEN
        PERFORM cc_append('VisitAssigned', p_ev, p_order, p_district, p_payload);
    END IF;
    RETURN 'applied';
END $$;
