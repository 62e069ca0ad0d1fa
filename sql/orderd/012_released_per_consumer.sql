-- Releases per reader: a meal order is released as MealReleased (meald's),
-- every other service as VisitReleased (dispatchd's), instead of one
-- OrderReleased that carried both readers' fields to both (and to billingd,
-- which skipped it). orderd builds the payload in C by the same rule
-- (od_app_pack_released: meal or not); the functions below name the type by
-- the order's service, so their signatures, and every caller, stay as they
-- were. Otherwise unchanged: od_order_place() of 007, od_on_funds_held() of
-- 003. Events already in the log keep their type OrderReleased; dispatchd
-- and meald still apply it (docs/SECURITY.md, "What events carry").

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
      FROM cards c WHERE c.id = p_card AND c.status = 'active' AND p_we > p_ws
    ON CONFLICT (idem_key) DO NOTHING
    RETURNING district_id INTO v_district;
    IF NOT FOUND THEN
        SELECT * INTO o FROM orders WHERE idem_key = p_key;
        IF FOUND THEN
            IF o.card_id = p_card AND o.service = p_service AND o.window_start = od_ts(p_ws)
               AND o.window_end = od_ts(p_we) AND o.notes = coalesce(p_notes, '') THEN
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
                            window_start, window_end, notes, emergency, source)
        SELECT p_order, p_key, c.id, c.elder_id, c.district_id, p_service, v_state,
               od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source
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

-- billingd: FundsHeld. As in 003; the release is typed by service.
CREATE OR REPLACE FUNCTION od_on_funds_held(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_held bigint, p_to text, p_detail text,
        p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
    v_service text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    IF p_to = 'released' THEN
        UPDATE orders SET price_fen = p_price, held_fen = p_held, state = 'released',
                          updated_at = clock_timestamp()
         WHERE id = p_order AND state IN ('placed', 'funds_held')
        RETURNING district_id, service INTO v_district, v_service;
        IF FOUND THEN
            INSERT INTO order_history (order_id, state, event, detail)
            VALUES (p_order, 'funds_held', 'FundsHeld', coalesce(p_detail, '')),
                   (p_order, 'released', 'released', 'sent to dispatch');
            PERFORM cc_append(CASE WHEN v_service = 'meal' THEN 'MealReleased'
                                   ELSE 'VisitReleased' END,
                              p_out_id, p_order::text, v_district, p_out);
            RETURN 'released';
        END IF;
    END IF;
    -- Not moving (cancelled meanwhile, or a state the hold does not move):
    -- record the amounts and the event only.
    UPDATE orders SET price_fen = p_price, held_fen = p_held WHERE id = p_order
        RETURNING state INTO v_state;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, v_state, 'FundsHeld', coalesce(p_detail, ''));
    RETURN v_state;
END $$;
