-- The service and state CHECKs of orders become domains.
--
-- PostgreSQL reads a table's CHECK constraints from their stored text
-- (stringToNode) and prepares them in every statement that inserts or
-- updates the table; with one INSERT and two UPDATEs of orders per order
-- that was 6% of PostgreSQL's CPU end to end (perf, ExecConstraints). A
-- domain's constraint is prepared once per backend and kept in the type
-- cache. Measured with bench/sqlcpu.py (9 x 2000 calls, side by side):
-- backend CPU per od_order_place 230 -> 195 us, od_on_funds_held 255 -> 225,
-- od_on_visit 205 -> 175. Same values allowed, the same SQLSTATE (23514)
-- for others; the columns still read as text. dispatchd's 005 did the same
-- for visits. window_end > window_start spans two columns and stays a CHECK.
--
-- The columns first change to domains without constraints (binary
-- coercible: no rewrite of the table; its indexes on state are rebuilt),
-- then the domains get their constraints, checked against the stored rows.

CREATE DOMAIN od_service AS text;
CREATE DOMAIN od_order_state AS text;

ALTER TABLE orders
    DROP CONSTRAINT orders_service_check,
    DROP CONSTRAINT orders_state_check,
    ALTER COLUMN service TYPE od_service,
    ALTER COLUMN state TYPE od_order_state;

ALTER DOMAIN od_service ADD CONSTRAINT od_service_check
    CHECK (VALUE IN ('meal', 'bath', 'cleaning', 'escort', 'medical_escort', 'emergency',
                     'visit', 'assessment'));
ALTER DOMAIN od_order_state ADD CONSTRAINT od_order_state_check
    CHECK (VALUE IN ('placed', 'funds_held', 'released', 'assigned', 'in_progress',
                     'completed', 'billed', 'denied', 'cancelled', 'failed'));

-- RETURN QUERY needs the declared column types exactly: od_order_place()
-- of 006 with its orders-row state cast back to text, otherwise unchanged.
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
        PERFORM cc_append('OrderReleased', p_released_id, p_order::text, v_district,
                          p_released);
    END IF;
    RETURN QUERY SELECT 'created'::text, p_order, v_state;
END $$;
