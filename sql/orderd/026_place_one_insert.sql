-- od_order_place in one body again (issue 10's overhead, docs/BENCHMARKS.md
-- "Issue 10"): 013 wrapped 012's body to record a meal's mode, and the
-- wrapper UPDATEd every created order afterwards, meal or not (mode NULL):
-- a second row version, its WAL and a second plpgsql frame per order. The
-- backend's CPU per placement went 330 -> 505 us (bench/sqlcpu.py, against
-- the revision before issue 10). Now the mode goes in with the INSERT.
-- Outcomes are 013's: a replay with another mode is a conflict
-- (test_orderd_sql.py, test_place_many.py compare them).
CREATE OR REPLACE FUNCTION od_order_place(p_order uuid, p_key text, p_card uuid,
        p_service text, p_ws bigint, p_we bigint, p_notes text, p_emergency boolean,
        p_source text, p_placed_id uuid, p_placed bytea, p_released_id uuid,
        p_released bytea, p_meal_mode text DEFAULT NULL)
RETURNS TABLE (outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    v_district integer;
    v_state text := CASE WHEN p_emergency THEN 'released' ELSE 'placed' END;
    v_mode text := CASE WHEN p_service = 'meal' THEN coalesce(p_meal_mode, 'delivery') END;
BEGIN
    INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                        window_start, window_end, notes, emergency, source, meal_mode)
    SELECT p_order, p_key, c.id, c.elder_id, c.district_id, p_service, v_state,
           od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source, v_mode
      FROM cards c WHERE c.id = p_card AND c.status = 'active' AND p_we > p_ws
    ON CONFLICT (idem_key) DO NOTHING
    RETURNING district_id INTO v_district;
    IF NOT FOUND THEN
        SELECT * INTO o FROM orders WHERE idem_key = p_key;
        IF FOUND THEN
            IF o.card_id = p_card AND o.service = p_service AND o.window_start = od_ts(p_ws)
               AND o.window_end = od_ts(p_we) AND o.notes = coalesce(p_notes, '')
               AND o.meal_mode IS NOT DISTINCT FROM v_mode THEN
                RETURN QUERY SELECT 'existing'::text, o.id, o.state::text;
            ELSE
                RETURN QUERY SELECT 'conflict'::text, o.id, o.state::text;
            END IF;
            RETURN;
        END IF;
        PERFORM 1 FROM cards c WHERE c.id = p_card AND c.status = 'active';
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'card_unavailable'::text, NULL::uuid, NULL::text;
            RETURN;
        END IF;
        -- A new key, an active card: only the window is wrong. The CHECK
        -- refuses it, as in 001 (C validates every request before this).
        INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                            window_start, window_end, notes, emergency, source, meal_mode)
        SELECT p_order, p_key, c.id, c.elder_id, c.district_id, p_service, v_state,
               od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source, v_mode
          FROM cards c WHERE c.id = p_card;
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
        PERFORM cc_append(CASE WHEN p_service = 'meal' THEN 'MealReleased'
                               ELSE 'VisitReleased' END,
                          p_released_id, p_order::text, v_district, p_released);
    END IF;
    RETURN QUERY SELECT 'created'::text, p_order, v_state;
END $$;

-- 013's wrapper called it; nothing else does.
DROP FUNCTION od_order_place_012(uuid, text, uuid, text, bigint, bigint, text, boolean, text,
                                 uuid, bytea, uuid, bytea);
