-- The effect functions report the order's current state even when the event
-- had been applied before. That happens when the writer re-sends a batch
-- whose COMMIT went through (reconnect): orderd then sets its memory from
-- the store's answer instead of keeping the state from before the batch.
-- Also: an index for GET /v1/orders without filters (newest first).

CREATE INDEX orders_created ON orders (created_at DESC);

CREATE FUNCTION od_state_of(p_order uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT o.state FROM orders o WHERE o.id = p_order
$$;

CREATE OR REPLACE FUNCTION od_on_funds_held(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_held bigint, p_to text, p_detail text,
        p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    UPDATE orders SET price_fen = p_price, held_fen = p_held WHERE id = p_order
        RETURNING state INTO v_state;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to = 'released' AND v_state IN ('placed', 'funds_held') THEN
        PERFORM od_step(p_order, 'FundsHeld', 'funds_held', p_detail, NULL, NULL, NULL);
        RETURN od_step(p_order, 'released', 'released', 'sent to dispatch',
                       'OrderReleased', p_out_id, p_out);
    END IF;
    RETURN od_step(p_order, 'FundsHeld', NULL, p_detail, NULL, NULL, NULL);
END $$;

CREATE OR REPLACE FUNCTION od_on_funds_denied(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_reason text, p_to text, p_detail text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    UPDATE orders SET price_fen = coalesce(price_fen, p_price),
                      reason = CASE WHEN p_to IS NULL THEN reason ELSE p_reason END
        WHERE id = p_order;
    RETURN od_step(p_order, 'FundsDenied', p_to, p_detail, NULL, NULL, NULL);
END $$;

CREATE OR REPLACE FUNCTION od_on_hold(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_charged bigint, p_to text, p_detail text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    IF p_event = 'HoldCaptured' THEN
        UPDATE orders SET charged_fen = p_charged WHERE id = p_order;
    END IF;
    RETURN od_step(p_order, p_event, p_to, p_detail, NULL, NULL, NULL);
END $$;

CREATE OR REPLACE FUNCTION od_on_visit(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_to text, p_detail text, p_caregiver text,
        p_visit text, p_provider text, p_reason text, p_out_type text, p_out_id uuid,
        p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    SELECT o.state INTO v_state FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to IS NOT NULL AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
        IF p_event = 'VisitAssigned' THEN
            UPDATE orders SET caregiver_id = p_caregiver, visit_id = p_visit,
                              provider_id = nullif(p_provider, '') WHERE id = p_order;
        ELSIF p_event = 'VisitDeclined' THEN
            UPDATE orders SET caregiver_id = NULL, visit_id = NULL WHERE id = p_order;
        ELSIF p_event = 'VisitCompleted' THEN
            UPDATE orders SET provider_id = coalesce(nullif(p_provider, ''), provider_id)
                WHERE id = p_order;
        ELSIF p_event = 'VisitFailed' THEN
            UPDATE orders SET reason = p_reason WHERE id = p_order;
        END IF;
    END IF;
    RETURN od_step(p_order, p_event, p_to, p_detail, p_out_type, p_out_id, p_out);
END $$;

CREATE OR REPLACE FUNCTION od_on_meal(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_event text, p_to text, p_detail text, p_meal_point text,
        p_provider text, p_reason text, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN od_state_of(p_order);
    END IF;
    SELECT o.state INTO v_state FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to IS NOT NULL AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
        IF p_event = 'MealScheduled' THEN
            UPDATE orders SET meal_point_id = p_meal_point,
                              provider_id = nullif(p_provider, '') WHERE id = p_order;
        ELSIF p_event = 'MealRefused' THEN
            UPDATE orders SET reason = p_reason WHERE id = p_order;
        END IF;
    END IF;
    RETURN od_step(p_order, p_event, p_to, p_detail, p_out_type, p_out_id, p_out);
END $$;
