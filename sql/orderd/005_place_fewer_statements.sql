-- od_order_place(): the card check and the order INSERT are one statement.
--
-- A new order used to cost a look-up by key, a look-up of the card, then
-- the INSERT. Now INSERT ... SELECT FROM cards (active) ... ON CONFLICT
-- (idem_key) DO NOTHING does all three; only when it inserts nothing (key
-- used before, or card not active) do the look-ups run, to tell which.
-- Outcomes and events are those of 001.
CREATE OR REPLACE FUNCTION od_order_place(p_order uuid, p_key text, p_card uuid,
        p_service text, p_ws bigint, p_we bigint, p_notes text, p_emergency boolean,
        p_source text, p_placed_id uuid, p_placed bytea, p_released_id uuid,
        p_released bytea)
RETURNS TABLE (outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    v_district integer;
    v_state text := CASE WHEN p_emergency THEN 'released' ELSE 'placed' END;
BEGIN
    INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                        window_start, window_end, notes, emergency, source)
    SELECT p_order, p_key, c.id, c.elder_id, c.district_id, p_service, v_state,
           od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source
      FROM cards c WHERE c.id = p_card AND c.status = 'active'
    ON CONFLICT (idem_key) DO NOTHING
    RETURNING district_id INTO v_district;
    IF NOT FOUND THEN
        SELECT * INTO o FROM orders WHERE idem_key = p_key;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'card_unavailable'::text, NULL::uuid, NULL::text;
        ELSIF o.card_id = p_card AND o.service = p_service AND o.window_start = od_ts(p_ws)
              AND o.window_end = od_ts(p_we) AND o.notes = coalesce(p_notes, '') THEN
            RETURN QUERY SELECT 'existing'::text, o.id, o.state;
        ELSE
            RETURN QUERY SELECT 'conflict'::text, o.id, o.state;
        END IF;
        RETURN;
    END IF;
    IF p_emergency THEN
        INSERT INTO order_history (order_id, state, event, detail)
        VALUES (p_order, 'placed', 'placed', 'via ' || p_source),
               (p_order, 'released', 'released', 'emergency: dispatched at once');
    ELSE
        INSERT INTO order_history (order_id, state, event, detail)
        VALUES (p_order, 'placed', 'placed', 'via ' || p_source);
    END IF;
    PERFORM cc_append('OrderPlaced', p_placed_id, p_order::text, v_district, p_placed);
    IF p_emergency THEN
        PERFORM cc_append('OrderReleased', p_released_id, p_order::text, v_district,
                          p_released);
    END IF;
    RETURN QUERY SELECT 'created'::text, p_order, v_state;
END $$;
