-- One home for the order states: which exist, which are final, which can
-- be cancelled.
--
-- The list of final states was written out in od_step, od_after_move,
-- od_on_visit, od_on_meal, od_on_hold, the orders_open index, the state
-- domain and twice more in C (od_domain.c, od_store.c). Now this table is
-- the SQL side's only copy; the C side's is services/orderd/od_states.h,
-- and orderd compares the two when it starts (od_store.c, od_load_states)
-- and refuses to run, naming the state, when they differ.
--
-- The rules are needed on hot paths (every saga step), so the table is not
-- read per call: od_states_compile() turns it into two IMMUTABLE SQL
-- functions, od_state_final(text) and od_state_cancellable(text), whose
-- bodies hold the lists as array constants (inlined by the planner and by
-- PL/pgSQL's simple expressions: no table access at run time), rebuilds the
-- od_order_state domain's CHECK (validated against the stored orders) and
-- the orders_open index, whose predicate uses od_state_final. A statement
-- trigger on the table runs it after every change, so a migration that adds
-- a state only edits rows here (and od_states.h).

CREATE TABLE order_states (
    name        text    PRIMARY KEY,
    final       boolean NOT NULL,     -- no event moves it any more
    cancellable boolean NOT NULL,     -- POST /v1/orders/{id}/cancel may
    CHECK (NOT (final AND cancellable))
);

INSERT INTO order_states (name, final, cancellable) VALUES
    ('placed',      false, true),
    ('funds_held',  false, true),
    ('released',    false, true),
    ('assigned',    false, true),
    ('in_progress', false, false),
    ('completed',   false, false),
    ('billed',      true,  false),
    ('denied',      true,  false),
    ('cancelled',   true,  false),
    ('failed',      true,  false);

CREATE FUNCTION od_states_compile() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_all text[];
    v_final text[];
    v_cancellable text[];
BEGIN
    SELECT coalesce(array_agg(name ORDER BY name), '{}'),
           coalesce(array_agg(name ORDER BY name) FILTER (WHERE final), '{}'),
           coalesce(array_agg(name ORDER BY name) FILTER (WHERE cancellable), '{}')
      INTO v_all, v_final, v_cancellable
      FROM order_states;
    EXECUTE format('CREATE OR REPLACE FUNCTION od_state_final(p_state text) RETURNS boolean '
                   'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
                   format('SELECT p_state = ANY (%L::text[])', v_final));
    EXECUTE format('CREATE OR REPLACE FUNCTION od_state_cancellable(p_state text) '
                   'RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
                   format('SELECT p_state = ANY (%L::text[])', v_cancellable));
    ALTER DOMAIN od_order_state DROP CONSTRAINT IF EXISTS od_order_state_check;
    EXECUTE format('ALTER DOMAIN od_order_state ADD CONSTRAINT od_order_state_check '
                   'CHECK (VALUE = ANY (%L::text[]))', v_all);
    -- An index predicate is evaluated when rows are written: one built on
    -- the old body would be stale.
    DROP INDEX IF EXISTS orders_open;
    CREATE INDEX orders_open ON orders (created_at) WHERE NOT od_state_final(state);
END $$;

CREATE FUNCTION od_states_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM od_states_compile();
    RETURN NULL;
END $$;

CREATE TRIGGER order_states_compile
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON order_states
    FOR EACH STATEMENT EXECUTE FUNCTION od_states_changed();

SELECT od_states_compile();

-- The functions that spelled the lists out, otherwise unchanged.
CREATE OR REPLACE FUNCTION od_step(p_order uuid, p_event text, p_to text, p_detail text,
        p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
    v_district integer;
BEGIN
    SELECT o.state, o.district_id INTO v_state, v_district
        FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_to IS NOT NULL AND p_to <> v_state AND NOT od_state_final(v_state) THEN
        UPDATE orders SET state = p_to, updated_at = clock_timestamp() WHERE id = p_order;
        v_state := p_to;
        IF p_out_type IS NOT NULL THEN
            PERFORM cc_append(p_out_type, p_out_id, p_order::text, v_district, p_out);
        END IF;
    END IF;
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, v_state, p_event, coalesce(p_detail, ''));
    RETURN v_state;
END $$;

CREATE OR REPLACE FUNCTION od_order_cancel(p_order uuid, p_reason text, p_event_id uuid,
        p_payload bytea)
RETURNS TABLE (outcome text, state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    SELECT o.state INTO v_state FROM orders o WHERE o.id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_order'::text, NULL::text;
        RETURN;
    END IF;
    IF v_state = 'cancelled' THEN
        RETURN QUERY SELECT 'already_cancelled'::text, v_state;
        RETURN;
    END IF;
    IF NOT od_state_cancellable(v_state) THEN
        RETURN QUERY SELECT 'not_cancellable'::text, v_state;
        RETURN;
    END IF;
    UPDATE orders SET reason = p_reason WHERE id = p_order;
    RETURN QUERY SELECT 'cancelled'::text,
        od_step(p_order, 'Cancel', 'cancelled', p_reason, 'OrderCancelled', p_event_id,
                p_payload);
END $$;

CREATE OR REPLACE FUNCTION od_after_move(p_order uuid, p_from text, p_to text, p_event text,
        p_detail text, p_district integer, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text := p_from;
BEGIN
    IF p_to IS NOT NULL AND p_to <> p_from AND NOT od_state_final(p_from) THEN
        v_state := p_to;
        IF p_out_type IS NOT NULL THEN
            PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_out);
        END IF;
    END IF;
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, v_state, p_event, coalesce(p_detail, ''));
    RETURN v_state;
END $$;

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
    IF p_to IS NOT NULL AND NOT od_state_final(v_state) THEN
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
    IF p_to IS NOT NULL AND NOT od_state_final(v_state) THEN
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
               AND NOT od_state_final(v_state);
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
