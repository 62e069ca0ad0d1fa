-- meald: meal points, their slots, capacity per (point, date, slot) and the
-- meal orders scheduled on them. Runs with search_path = meald, as meald,
-- after sql/common/*.sql (events, log_head, cc_append, cc_consume).
--
-- Every write is one function call from the daemon, which has already
-- decided in C against its in-memory copy; the function re-checks what the
-- database can check (capacity CHECK, one meal per order, cc_consume) so a
-- replayed statement changes nothing twice. Expected outcomes are result
-- rows; an SQL error means memory and store disagree (the daemon exits and
-- reloads).

-- Microseconds since the epoch <-> timestamptz without float rounding.
CREATE FUNCTION us_ts(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz 'epoch' + p_us * interval '1 microsecond' $$;
CREATE FUNCTION ts_us(p_ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM p_ts) * 1000000)::bigint $$;

CREATE TABLE meal_points (
    id              uuid             PRIMARY KEY,
    name            text             NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider_id     text             NOT NULL CHECK (length(provider_id) BETWEEN 1 AND 64),
    district_id     integer          NOT NULL CHECK (district_id >= 0),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    -- Idempotency-Key of the creating request and a hash of its body, so a
    -- retried POST returns the same point and a different body is a conflict.
    idempotency_key text             UNIQUE,
    request_hash    text,
    created_at      timestamptz      NOT NULL DEFAULT now()
);

CREATE TABLE meal_slots (
    meal_point_id uuid    NOT NULL REFERENCES meal_points (id),
    slot          text    NOT NULL CHECK (slot IN ('lunch', 'dinner')),
    capacity      integer NOT NULL CHECK (capacity > 0),
    -- Order cut-off, minutes after local (Asia/Shanghai) midnight of the
    -- meal's date.
    cutoff_min    integer NOT NULL CHECK (cutoff_min BETWEEN 0 AND 1439),
    PRIMARY KEY (meal_point_id, slot)
);

-- Places taken per (point, date, slot). capacity is copied from the slot
-- when the row is created so that the CHECK can hold the line: a booking
-- beyond capacity is an SQL error, never a stored overbooking.
CREATE TABLE slot_counts (
    meal_point_id uuid    NOT NULL,
    date          date    NOT NULL,
    slot          text    NOT NULL,
    capacity      integer NOT NULL,
    used          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (meal_point_id, date, slot),
    FOREIGN KEY (meal_point_id, slot) REFERENCES meal_slots (meal_point_id, slot),
    CONSTRAINT slot_counts_within_capacity CHECK (used >= 0 AND used <= capacity)
);

-- One row per meal order meald has decided on (scheduled or refused).
-- lat/lon (the elder's home) and diet are kept for the kitchen list and for
-- courier routing; they are personal data and never logged.
CREATE TABLE meals (
    order_id      uuid             PRIMARY KEY,
    district_id   integer          NOT NULL DEFAULT 0,
    status        text             NOT NULL
                  CHECK (status IN ('scheduled', 'refused', 'cancelled', 'delivered')),
    refuse_reason text             CHECK (refuse_reason IN
                                          ('past_cutoff', 'no_capacity', 'no_meal_point')),
    meal_point_id uuid             REFERENCES meal_points (id),
    date          date,
    slot          text             CHECK (slot IN ('lunch', 'dinner')),
    window_start  timestamptz,
    window_end    timestamptz,
    diet          text             NOT NULL DEFAULT '',
    lat           double precision,
    lon           double precision,
    decided_at    timestamptz      NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    delivered_at  timestamptz,
    courier_id    text,
    CHECK ((status = 'refused') = (refuse_reason IS NOT NULL)),
    CHECK (status = 'refused' OR (meal_point_id IS NOT NULL AND date IS NOT NULL
                                   AND slot IS NOT NULL)),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX meals_bucket ON meals (meal_point_id, date, slot);

-- Create a meal point with its slots (parallel arrays).
-- outcome: created | replay (same Idempotency-Key, same body: the existing
-- id) | conflict (same key, different body).
CREATE FUNCTION md_create_point(p_id uuid, p_name text, p_provider text, p_district integer,
                                p_lat double precision, p_lon double precision,
                                p_slots text[], p_capacities integer[], p_cutoffs integer[],
                                p_idem text, p_hash text)
RETURNS TABLE (outcome text, meal_point_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    prev meal_points%ROWTYPE;
BEGIN
    IF p_idem IS NOT NULL THEN
        SELECT * INTO prev FROM meal_points WHERE idempotency_key = p_idem;
        IF FOUND THEN
            IF prev.request_hash = p_hash THEN
                RETURN QUERY SELECT 'replay'::text, prev.id;
            ELSE
                RETURN QUERY SELECT 'conflict'::text, prev.id;
            END IF;
            RETURN;
        END IF;
    END IF;
    -- The id is generated in C; a replayed statement (batch re-sent after a
    -- lost connection) finds its own row.
    IF EXISTS (SELECT 1 FROM meal_points WHERE id = p_id) THEN
        RETURN QUERY SELECT 'replay'::text, p_id;
        RETURN;
    END IF;
    INSERT INTO meal_points (id, name, provider_id, district_id, lat, lon,
                             idempotency_key, request_hash)
    VALUES (p_id, p_name, p_provider, p_district, p_lat, p_lon, p_idem, p_hash);
    INSERT INTO meal_slots (meal_point_id, slot, capacity, cutoff_min)
    SELECT p_id, s, c, m FROM unnest(p_slots, p_capacities, p_cutoffs) AS u (s, c, m);
    RETURN QUERY SELECT 'created'::text, p_id;
END $$;

-- OrderReleased(meal), decided in C: book a place and announce it.
-- outcome: applied | duplicate (event already applied) | exists (the order
-- already has a meal row: orderd released it twice).
CREATE FUNCTION md_schedule(p_producer text, p_seq bigint, p_event_id uuid,
                            p_order_id uuid, p_district integer, p_point uuid,
                            p_date date, p_slot text, p_window_start_us bigint,
                            p_window_end_us bigint, p_diet text,
                            p_lat double precision, p_lon double precision,
                            p_out_id uuid, p_payload bytea)
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
                       window_start, window_end, diet, lat, lon)
    VALUES (p_order_id, p_district, 'scheduled', p_point, p_date, p_slot,
            us_ts(p_window_start_us), us_ts(p_window_end_us),
            coalesce(p_diet, ''), p_lat, p_lon)
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

-- OrderReleased(meal) that cannot be served: record and announce it.
CREATE FUNCTION md_refuse(p_producer text, p_seq bigint, p_event_id uuid,
                          p_order_id uuid, p_district integer, p_reason text,
                          p_window_start_us bigint, p_window_end_us bigint, p_diet text,
                          p_lat double precision, p_lon double precision,
                          p_out_id uuid, p_payload bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN QUERY SELECT 'duplicate'::text;
        RETURN;
    END IF;
    INSERT INTO meals (order_id, district_id, status, refuse_reason,
                       window_start, window_end, diet, lat, lon)
    VALUES (p_order_id, p_district, 'refused', p_reason,
            us_ts(p_window_start_us), us_ts(p_window_end_us),
            coalesce(p_diet, ''), p_lat, p_lon)
    ON CONFLICT (order_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN QUERY SELECT 'exists'::text;
        RETURN;
    END IF;
    PERFORM cc_append('MealRefused', p_out_id, p_order_id::text, p_district, p_payload);
    RETURN QUERY SELECT 'applied'::text;
END $$;

-- OrderCancelled: free the place of a scheduled (not yet delivered) meal.
-- outcome: applied | duplicate | noop (no scheduled meal for the order).
CREATE FUNCTION md_cancel(p_producer text, p_seq bigint, p_event_id uuid, p_order_id uuid)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    m meals%ROWTYPE;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN QUERY SELECT 'duplicate'::text;
        RETURN;
    END IF;
    UPDATE meals SET status = 'cancelled', cancelled_at = now()
     WHERE order_id = p_order_id AND status = 'scheduled'
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'noop'::text;
        RETURN;
    END IF;
    UPDATE slot_counts SET used = used - 1
     WHERE meal_point_id = m.meal_point_id AND date = m.date AND slot = m.slot;
    RETURN QUERY SELECT 'applied'::text;
END $$;

-- POST /v1/meals/{order_id}/delivered. Once: a repeated call returns the
-- stored delivery (outcome already) and appends nothing.
-- outcome: applied | already | not_scheduled | unknown.
CREATE FUNCTION md_deliver(p_order_id uuid, p_courier text, p_at_us bigint,
                           p_out_id uuid, p_payload bytea)
RETURNS TABLE (outcome text, delivered_us bigint, courier_id text)
LANGUAGE plpgsql AS $$
DECLARE
    m meals%ROWTYPE;
BEGIN
    SELECT * INTO m FROM meals WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    IF m.status = 'delivered' THEN
        RETURN QUERY SELECT 'already'::text,
            ts_us(m.delivered_at), m.courier_id;
        RETURN;
    END IF;
    IF m.status <> 'scheduled' THEN
        RETURN QUERY SELECT 'not_scheduled'::text, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    UPDATE meals SET status = 'delivered', delivered_at = us_ts(p_at_us),
                     courier_id = p_courier
     WHERE order_id = p_order_id;
    PERFORM cc_append('MealDelivered', p_out_id, p_order_id::text, m.district_id, p_payload);
    RETURN QUERY SELECT 'applied'::text, p_at_us, p_courier;
END $$;
