-- The elder's address for a delivered meal, as orderd sealed it for meald
-- (MealReleased.address_sealed; services/common/cc_seal.h): stored as it
-- came, opened only to answer an authorised read (md_meal_address, for the
-- courier's rounds; docs/SECURITY.md "Personal data"). NULL: none came (a
-- refused meal, an older release). Nullable, no default: no rewrite.
ALTER TABLE meals ADD COLUMN address_sealed bytea;

-- md_schedule takes it last: dropped and made again, as a changed
-- parameter list needs. As in 001_meald.sql, with the address stored.
DROP FUNCTION md_schedule(text, bigint, uuid, uuid, integer, uuid, date, text, bigint, bigint,
    text, double precision, double precision, uuid, bytea);
CREATE FUNCTION md_schedule(p_producer text, p_seq bigint, p_event_id uuid,
                            p_order_id uuid, p_district integer, p_point uuid,
                            p_date date, p_slot text, p_window_start_us bigint,
                            p_window_end_us bigint, p_diet text,
                            p_lat double precision, p_lon double precision,
                            p_out_id uuid, p_payload bytea, p_address bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN QUERY SELECT 'duplicate'::text;
        RETURN;
    END IF;
    INSERT INTO meals (order_id, district_id, status, meal_point_id, date, slot,
                       window_start, window_end, diet, lat, lon, address_sealed)
    VALUES (p_order_id, p_district, 'scheduled', p_point, p_date, p_slot,
            us_ts(p_window_start_us), us_ts(p_window_end_us),
            coalesce(p_diet, ''), p_lat, p_lon, p_address)
    ON CONFLICT (order_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN QUERY SELECT 'exists'::text;
        RETURN;
    END IF;
    -- The CHECK on slot_counts makes an overbooking an error, never data.
    INSERT INTO slot_counts AS sc (meal_point_id, date, slot, capacity, used)
    SELECT p_point, p_date, p_slot, ms.capacity, 1
      FROM meal_slots ms WHERE ms.meal_point_id = p_point AND ms.slot = p_slot
    ON CONFLICT (meal_point_id, date, slot) DO UPDATE SET used = sc.used + 1;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'meal point % has no slot %', p_point, p_slot;
    END IF;
    PERFORM cc_append('MealScheduled', p_out_id, p_order_id::text, p_district, p_payload);
    RETURN QUERY SELECT 'applied'::text;
END $$;

-- A new function: 003_runtime_role.sql's grant went with the old one.
REVOKE EXECUTE ON FUNCTION md_schedule FROM PUBLIC;
GRANT EXECUTE ON FUNCTION md_schedule TO meald_rt;
