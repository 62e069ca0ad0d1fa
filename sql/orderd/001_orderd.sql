-- orderd: elders, love cards, orders and their history, and the functions
-- that change them. Run with search_path = orderd after sql/common/*.sql.
--
-- Every write is one function call decided in C (services/orderd); the
-- function changes state and appends its events with cc_append() in the same
-- transaction. Expected outcomes (duplicate, idempotent replay, conflict,
-- not cancellable) come back as result rows, never as SQL errors: an SQL
-- error means memory and store disagree and the daemon restarts.
-- Ids of other daemons' objects (caregivers, visits, meal points) are kept
-- as text: a malformed id in someone else's event must not become an SQL
-- error here. district_id is on every table for partitioning (DESIGN.md §7).

CREATE TABLE elders (
    id               uuid        PRIMARY KEY,
    district_id      integer     NOT NULL,
    name             text        NOT NULL,
    id_number        text        NOT NULL,
    phone            text        NOT NULL,
    address          text        NOT NULL,
    lat              double precision NOT NULL,
    lon              double precision NOT NULL,
    birth_date       date        NOT NULL,
    ability_level    text        NOT NULL
        CHECK (ability_level IN ('intact', 'mild', 'moderate', 'severe', 'total')),
    household        text        NOT NULL
        CHECK (household IN ('none', 'dibao', 'dibao_edge', 'tekun')),
    living           text        NOT NULL
        CHECK (living IN ('alone', 'empty_nest', 'with_family', 'left_behind', 'other')),
    disability_grade smallint    CHECK (disability_grade BETWEEN 1 AND 4),
    diet             text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- One person, one record: the 18-character number is unique (upper-case X).
CREATE UNIQUE INDEX elders_id_number ON elders (id_number);
-- The operator's first screen looks the caller up by phone while it rings.
CREATE INDEX elders_phone ON elders (phone);

CREATE TABLE cards (
    id          uuid        PRIMARY KEY,
    elder_id    uuid        NOT NULL REFERENCES elders (id),
    district_id integer     NOT NULL,
    status      text        NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'blocked', 'closed')),
    issued_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cards_elder ON cards (elder_id);

CREATE TABLE orders (
    id            uuid        PRIMARY KEY,
    idem_key      text        NOT NULL,
    card_id       uuid        NOT NULL REFERENCES cards (id),
    elder_id      uuid        NOT NULL REFERENCES elders (id),
    district_id   integer     NOT NULL,
    service       text        NOT NULL
        CHECK (service IN ('meal', 'bath', 'cleaning', 'escort', 'medical_escort',
                           'emergency', 'visit', 'assessment')),
    state         text        NOT NULL
        CHECK (state IN ('placed', 'funds_held', 'released', 'assigned', 'in_progress',
                         'completed', 'billed', 'denied', 'cancelled', 'failed')),
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL CHECK (window_end > window_start),
    notes         text        NOT NULL DEFAULT '',
    emergency     boolean     NOT NULL DEFAULT false,
    source        text        NOT NULL DEFAULT 'http',   -- http|zmq|mandated
    caregiver_id  text,
    visit_id      text,
    provider_id   text,
    meal_point_id text,
    price_fen     bigint,
    held_fen      bigint,
    charged_fen   bigint,
    reason        text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The final guard of idempotency: one order per key, whatever races in C.
CREATE UNIQUE INDEX orders_idem_key ON orders (idem_key);
CREATE INDEX orders_card ON orders (card_id, created_at DESC);
CREATE INDEX orders_state ON orders (state, created_at DESC);
-- Start-up loads the open ones only.
CREATE INDEX orders_open ON orders (created_at)
    WHERE state NOT IN ('billed', 'denied', 'cancelled', 'failed');
-- Continuity of care: the caregiver of the elder's last completed visit.
CREATE INDEX orders_done_by ON orders (elder_id, service, updated_at DESC)
    WHERE caregiver_id IS NOT NULL AND state IN ('completed', 'billed');

CREATE TABLE order_history (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  uuid        NOT NULL REFERENCES orders (id),
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    state     text        NOT NULL,        -- state after this entry
    event     text        NOT NULL,        -- placed, FundsHeld, Cancel, ...
    detail    text        NOT NULL DEFAULT ''
);
CREATE INDEX order_history_order ON order_history (order_id, id);

-- Microseconds since the epoch <-> timestamptz, exactly (no float rounding).
CREATE FUNCTION od_ts(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT timestamptz 'epoch' + p_us * interval '1 microsecond'
$$;
CREATE FUNCTION od_us(p_t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (extract(epoch FROM p_t) * 1000000)::bigint
$$;

-- ---- elders ---------------------------------------------------------------
-- outcome: created | duplicate_id_number (elder_id is the existing one).
-- A re-sent batch (reconnect after COMMIT was sent) finds its own row by id.
CREATE FUNCTION od_elder_create(p_id uuid, p_district integer, p_name text,
        p_id_number text, p_phone text, p_address text, p_lat double precision,
        p_lon double precision, p_birth date, p_ability text, p_household text,
        p_living text, p_disability smallint, p_diet text)
RETURNS TABLE (outcome text, elder_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_existing uuid;
BEGIN
    INSERT INTO elders (id, district_id, name, id_number, phone, address, lat, lon,
                        birth_date, ability_level, household, living, disability_grade, diet)
    VALUES (p_id, p_district, p_name, upper(p_id_number), p_phone, p_address, p_lat, p_lon,
            p_birth, p_ability, p_household, p_living, p_disability, coalesce(p_diet, ''))
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN QUERY SELECT 'created'::text, p_id;
        RETURN;
    END IF;
    SELECT e.id INTO v_existing FROM elders e WHERE e.id = p_id;
    IF FOUND THEN
        RETURN QUERY SELECT 'created'::text, p_id;
        RETURN;
    END IF;
    SELECT e.id INTO v_existing FROM elders e WHERE e.id_number = upper(p_id_number);
    RETURN QUERY SELECT 'duplicate_id_number'::text, v_existing;
END $$;

-- ---- cards ------------------------------------------------------------------
-- outcome: created | unknown_elder. Appends CardIssued (payload built in C).
CREATE FUNCTION od_card_issue(p_card uuid, p_elder uuid, p_event_id uuid, p_payload bytea)
RETURNS TABLE (outcome text, card_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    v_district integer;
BEGIN
    IF EXISTS (SELECT 1 FROM cards c WHERE c.id = p_card) THEN
        RETURN QUERY SELECT 'created'::text, p_card;   -- re-sent batch
        RETURN;
    END IF;
    SELECT e.district_id INTO v_district FROM elders e WHERE e.id = p_elder;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text, NULL::uuid;
        RETURN;
    END IF;
    INSERT INTO cards (id, elder_id, district_id) VALUES (p_card, p_elder, v_district);
    PERFORM cc_append('CardIssued', p_event_id, p_card::text, v_district, p_payload);
    RETURN QUERY SELECT 'created'::text, p_card;
END $$;

-- outcome: changed | unchanged | unknown_card. Appends CardStatusChanged.
CREATE FUNCTION od_card_set_status(p_card uuid, p_status text, p_event_id uuid,
                                   p_payload bytea)
RETURNS TABLE (outcome text, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_old text;
    v_district integer;
BEGIN
    SELECT c.status, c.district_id INTO v_old, v_district FROM cards c WHERE c.id = p_card
        FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_card'::text, NULL::text;
        RETURN;
    END IF;
    IF v_old = p_status THEN
        RETURN QUERY SELECT 'unchanged'::text, v_old;
        RETURN;
    END IF;
    UPDATE cards SET status = p_status WHERE id = p_card;
    PERFORM cc_append('CardStatusChanged', p_event_id, p_card::text, v_district, p_payload);
    RETURN QUERY SELECT 'changed'::text, p_status;
END $$;

-- ---- orders -------------------------------------------------------------------
-- Place an order under an idempotency key. outcome:
--   created   the order is new (OrderPlaced appended; for an emergency also
--             OrderReleased, state released)
--   existing  the key was used before with the same request: that order
--   conflict  the key was used before with a different request
--   card_unavailable  the card is unknown or not active (final guard)
CREATE FUNCTION od_order_place(p_order uuid, p_key text, p_card uuid, p_service text,
        p_ws bigint, p_we bigint, p_notes text, p_emergency boolean, p_source text,
        p_placed_id uuid, p_placed bytea, p_released_id uuid, p_released bytea)
RETURNS TABLE (outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
    v_elder uuid;
    v_district integer;
    v_state text;
BEGIN
    SELECT * INTO o FROM orders WHERE idem_key = p_key;
    IF FOUND THEN
        IF o.card_id = p_card AND o.service = p_service AND o.window_start = od_ts(p_ws)
           AND o.window_end = od_ts(p_we) AND o.notes = coalesce(p_notes, '') THEN
            RETURN QUERY SELECT 'existing'::text, o.id, o.state;
        ELSE
            RETURN QUERY SELECT 'conflict'::text, o.id, o.state;
        END IF;
        RETURN;
    END IF;
    SELECT c.elder_id, c.district_id INTO v_elder, v_district
        FROM cards c WHERE c.id = p_card AND c.status = 'active';
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'card_unavailable'::text, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    v_state := CASE WHEN p_emergency THEN 'released' ELSE 'placed' END;
    INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                        window_start, window_end, notes, emergency, source)
    VALUES (p_order, p_key, p_card, v_elder, v_district, p_service, v_state,
            od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source);
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, 'placed', 'placed', 'via ' || p_source);
    PERFORM cc_append('OrderPlaced', p_placed_id, p_order::text, v_district, p_placed);
    IF p_emergency THEN
        INSERT INTO order_history (order_id, state, event, detail)
        VALUES (p_order, 'released', 'released', 'emergency: dispatched at once');
        PERFORM cc_append('OrderReleased', p_released_id, p_order::text, v_district,
                          p_released);
    END IF;
    RETURN QUERY SELECT 'created'::text, p_order, v_state;
END $$;

-- One step of the saga on an order, decided in C by od_step(). p_to is the
-- new state (NULL: history only). The store repeats the one rule that keeps
-- it safe whatever C believed: a final order never changes state, and
-- nothing is appended for it. Returns the state after the step, or NULL when
-- the order is unknown. Appends p_out_type (if any) only when the state
-- changed.
CREATE FUNCTION od_step(p_order uuid, p_event text, p_to text, p_detail text,
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
    IF p_to IS NOT NULL AND p_to <> v_state
       AND v_state NOT IN ('billed', 'denied', 'cancelled', 'failed') THEN
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

-- Operator cancel. outcome: cancelled | already_cancelled | not_cancellable
-- | unknown_order. Appends OrderCancelled.
CREATE FUNCTION od_order_cancel(p_order uuid, p_reason text, p_event_id uuid, p_payload bytea)
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
    IF v_state NOT IN ('placed', 'funds_held', 'released', 'assigned') THEN
        RETURN QUERY SELECT 'not_cancellable'::text, v_state;
        RETURN;
    END IF;
    UPDATE orders SET reason = p_reason WHERE id = p_order;
    RETURN QUERY SELECT 'cancelled'::text,
        od_step(p_order, 'Cancel', 'cancelled', p_reason, 'OrderCancelled', p_event_id,
                p_payload);
END $$;

-- ---- consumed events ---------------------------------------------------------
-- One function per inbound event type. Each starts with cc_consume() (position
-- and inbox in this transaction) and returns the order's state after the
-- event, or NULL when the event had been applied before (or names no order of
-- ours): the caller then leaves its memory alone.

-- billingd: FundsHeld. placed -> funds_held -> released, appending
-- OrderReleased (built in C) in the same transaction.
CREATE FUNCTION od_on_funds_held(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_held bigint, p_to text, p_detail text,
        p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN NULL;
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

-- billingd: FundsDenied -> denied with the reason.
CREATE FUNCTION od_on_funds_denied(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_price bigint, p_reason text, p_to text, p_detail text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN NULL;
    END IF;
    UPDATE orders SET price_fen = coalesce(price_fen, p_price),
                      reason = CASE WHEN p_to IS NULL THEN reason ELSE p_reason END
        WHERE id = p_order;
    RETURN od_step(p_order, 'FundsDenied', p_to, p_detail, NULL, NULL, NULL);
END $$;

-- billingd: HoldCaptured -> billed (charged_fen); HoldReleased -> history.
CREATE FUNCTION od_on_hold(p_producer text, p_seq bigint, p_event_id uuid, p_order uuid,
        p_event text, p_charged bigint, p_to text, p_detail text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN NULL;
    END IF;
    IF p_event = 'HoldCaptured' THEN
        UPDATE orders SET charged_fen = p_charged WHERE id = p_order;
    END IF;
    RETURN od_step(p_order, p_event, p_to, p_detail, NULL, NULL, NULL);
END $$;

-- dispatchd: VisitAssigned, VisitAccepted, VisitDeclined, VisitCheckedIn,
-- VisitCompleted (appends OrderCompleted), VisitFailed (appends OrderFailed).
-- Who is on the visit is recorded only when the state moves with it.
CREATE FUNCTION od_on_visit(p_producer text, p_seq bigint, p_event_id uuid, p_order uuid,
        p_event text, p_to text, p_detail text, p_caregiver text, p_visit text,
        p_provider text, p_reason text, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN NULL;
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

-- meald: MealScheduled (meal point), MealRefused (appends OrderFailed),
-- MealDelivered (appends OrderCompleted).
CREATE FUNCTION od_on_meal(p_producer text, p_seq bigint, p_event_id uuid, p_order uuid,
        p_event text, p_to text, p_detail text, p_meal_point text, p_provider text,
        p_reason text, p_out_type text, p_out_id uuid, p_out bytea)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN NULL;
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
