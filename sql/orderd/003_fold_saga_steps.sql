-- One UPDATE of the order per consumed event.
--
-- Every UPDATE of orders changes state or updated_at, which are indexed (or
-- in an index predicate), so none is a HOT update: each writes a new row
-- version and an entry in every index of orders. od_on_funds_held made three
-- of them per order (price and hold, then funds_held, then released, each
-- od_step also re-reading the row FOR UPDATE) and od_on_visit two; together
-- they were the largest share of orderd's SQL time end to end. Now each
-- event is one UPDATE that sets the state and the columns it carries, one
-- history INSERT (both rows at once for FundsHeld -> released) and, when
-- the state moved, its event. The rules are od_step's, unchanged: a final
-- order never changes state, and nothing is appended for it.

-- billingd: FundsHeld. placed (or funds_held) -> released in one step,
-- history "FundsHeld" (funds_held) then "released", appending OrderReleased.
CREATE OR REPLACE FUNCTION od_on_funds_held(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_held bigint, p_to text, p_detail text,
        p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    IF p_to = 'released' THEN
        UPDATE orders SET price_fen = p_price, held_fen = p_held, state = 'released',
                          updated_at = clock_timestamp()
         WHERE id = p_order AND state IN ('placed', 'funds_held')
        RETURNING district_id INTO v_district;
        IF FOUND THEN
            INSERT INTO order_history (order_id, state, event, detail)
            VALUES (p_order, 'funds_held', 'FundsHeld', coalesce(p_detail, '')),
                   (p_order, 'released', 'released', 'sent to dispatch');
            PERFORM cc_append('OrderReleased', p_out_id, p_order::text, v_district, p_out);
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

-- The state move shared by the visit, meal and hold effects: the order row
-- is already locked (v_state read FOR UPDATE by the caller) and the columns
-- the event carries are set in the same UPDATE by the caller; this appends
-- the history row and the outgoing event.
CREATE FUNCTION od_after_move(p_order uuid, p_from text, p_to text, p_event text,
        p_detail text, p_district integer, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text := p_from;
BEGIN
    IF p_to IS NOT NULL AND p_to <> p_from
       AND p_from NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
        v_state := p_to;
        IF p_out_type IS NOT NULL THEN
            PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_out);
        END IF;
    END IF;
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, v_state, p_event, coalesce(p_detail, ''));
    RETURN v_state;
END $$;

-- dispatchd: VisitAssigned, VisitAccepted, VisitDeclined, VisitCheckedIn,
-- VisitCompleted (appends OrderCompleted), VisitFailed (appends OrderFailed).
CREATE OR REPLACE FUNCTION od_on_visit(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_to text, p_detail text, p_caregiver text,
        p_visit text, p_provider text, p_reason text, p_out_type text, p_out_id uuid,
        p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    SELECT o.state, o.district_id INTO v_state, v_district
      FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to IS NOT NULL AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
        UPDATE orders SET
            caregiver_id = CASE p_event WHEN 'VisitAssigned' THEN p_caregiver
                                        WHEN 'VisitDeclined' THEN NULL
                                        ELSE caregiver_id END,
            visit_id = CASE p_event WHEN 'VisitAssigned' THEN p_visit
                                    WHEN 'VisitDeclined' THEN NULL
                                    ELSE visit_id END,
            provider_id = CASE p_event
                              WHEN 'VisitAssigned' THEN nullif(p_provider, '')
                              WHEN 'VisitCompleted' THEN coalesce(nullif(p_provider, ''),
                                                                  provider_id)
                              ELSE provider_id END,
            reason = CASE WHEN p_event = 'VisitFailed' THEN p_reason ELSE reason END,
            state = p_to,
            updated_at = CASE WHEN p_to <> v_state THEN clock_timestamp() ELSE updated_at END
         WHERE id = p_order;
    END IF;
    RETURN od_after_move(p_order, v_state, p_to, p_event, p_detail, v_district,
                         p_out_type, p_out_id, p_out);
END $$;

-- meald: MealScheduled (meal point), MealRefused (appends OrderFailed),
-- MealDelivered (appends OrderCompleted).
CREATE OR REPLACE FUNCTION od_on_meal(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_to text, p_detail text, p_meal_point text,
        p_provider text, p_reason text, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    SELECT o.state, o.district_id INTO v_state, v_district
      FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to IS NOT NULL AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
        UPDATE orders SET
            meal_point_id = CASE WHEN p_event = 'MealScheduled' THEN p_meal_point
                                 ELSE meal_point_id END,
            provider_id = CASE WHEN p_event = 'MealScheduled' THEN nullif(p_provider, '')
                               ELSE provider_id END,
            reason = CASE WHEN p_event = 'MealRefused' THEN p_reason ELSE reason END,
            state = p_to,
            updated_at = CASE WHEN p_to <> v_state THEN clock_timestamp() ELSE updated_at END
         WHERE id = p_order;
    END IF;
    RETURN od_after_move(p_order, v_state, p_to, p_event, p_detail, v_district,
                         p_out_type, p_out_id, p_out);
END $$;

-- billingd: HoldCaptured -> billed (charged_fen); HoldReleased -> history.
CREATE OR REPLACE FUNCTION od_on_hold(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_charged bigint, p_to text, p_detail text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
    v_moves boolean;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    SELECT o.state, o.district_id INTO v_state, v_district
      FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    v_moves := p_to IS NOT NULL AND p_to <> v_state
               AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed');
    IF p_event = 'HoldCaptured' OR v_moves THEN
        UPDATE orders SET
            charged_fen = CASE WHEN p_event = 'HoldCaptured' THEN p_charged
                               ELSE charged_fen END,
            state = CASE WHEN v_moves THEN p_to ELSE state END,
            updated_at = CASE WHEN v_moves THEN clock_timestamp() ELSE updated_at END
         WHERE id = p_order;
    END IF;
    RETURN od_after_move(p_order, v_state, p_to, p_event, p_detail, v_district,
                         NULL, NULL, NULL);
END $$;
