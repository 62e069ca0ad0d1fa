-- Couriers and delivery rounds (issue 12, "meald: couriers and rounds";
-- docs/API-meald.md). A meal is delivered by a round or eaten in at the
-- canteen; at a slot's cut-off (and after a late change) meald plans the
-- slot's rounds with libvrp and stores the plan, one row per (point, date,
-- slot), with the meals it could not serve and why.

-- The hot-food limit: longest ride from leaving the kitchen to the door.
ALTER TABLE meal_points ADD COLUMN hot_limit_min integer NOT NULL DEFAULT 40
    CHECK (hot_limit_min BETWEEN 1 AND 240);

-- MealReleased.mode. Meals decided before this migration were deliveries.
ALTER TABLE meals ADD COLUMN mode text NOT NULL DEFAULT 'delivery'
    CHECK (mode IN ('delivery', 'eat_in'));

-- A failed delivery on site (POST /v1/meals/{id}/failed): like undelivered
-- (orderd fails the order, billing releases the hold), with its reason.
ALTER TABLE meals DROP CONSTRAINT meals_status_check,
    ADD CONSTRAINT meals_status_check
        CHECK (status IN ('scheduled', 'refused', 'cancelled', 'delivered', 'undelivered',
                          'failed'));
ALTER TABLE meals ADD COLUMN fail_reason text CHECK (fail_reason IN ('absent', 'refused'));
ALTER TABLE meals ADD CONSTRAINT meals_failed_has_reason
    CHECK ((status = 'failed') = (fail_reason IS NOT NULL));

CREATE TABLE couriers (
    id              uuid             PRIMARY KEY,
    meal_point_id   uuid             NOT NULL REFERENCES meal_points (id),
    provider_id     text             NOT NULL CHECK (length(provider_id) BETWEEN 1 AND 64),
    name            text             NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    vehicle         text             NOT NULL CHECK (vehicle IN ('foot', 'e_bike', 'car')),
    speed_kmh       double precision NOT NULL CHECK (speed_kmh > 0 AND speed_kmh <= 120),
    capacity        integer          NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    -- Shift, minutes after local (Asia/Shanghai) midnight, start < end.
    shift_start_min integer          NOT NULL CHECK (shift_start_min BETWEEN 0 AND 1439),
    shift_end_min   integer          NOT NULL CHECK (shift_end_min BETWEEN 1 AND 1440),
    idempotency_key text             UNIQUE,
    request_hash    text,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    CHECK (shift_start_min < shift_end_min)
);
CREATE INDEX couriers_point ON couriers (meal_point_id);

-- outcome: created | replay (same key and body, or a replayed statement) |
-- conflict (same key, different body).
CREATE FUNCTION md_create_courier(p_id uuid, p_point uuid, p_provider text, p_name text,
                                  p_vehicle text, p_speed double precision,
                                  p_capacity integer, p_shift_start integer,
                                  p_shift_end integer, p_idem text, p_hash text)
RETURNS TABLE (outcome text, courier_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    prev couriers%ROWTYPE;
BEGIN
    IF p_idem IS NOT NULL THEN
        SELECT * INTO prev FROM couriers WHERE idempotency_key = p_idem;
        IF FOUND THEN
            RETURN QUERY SELECT CASE WHEN prev.request_hash = p_hash THEN 'replay'
                                     ELSE 'conflict' END, prev.id;
            RETURN;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM couriers WHERE id = p_id) THEN
        RETURN QUERY SELECT 'replay'::text, p_id;
        RETURN;
    END IF;
    INSERT INTO couriers (id, meal_point_id, provider_id, name, vehicle, speed_kmh, capacity,
                          shift_start_min, shift_end_min, idempotency_key, request_hash)
    VALUES (p_id, p_point, p_provider, p_name, p_vehicle, p_speed, p_capacity,
            p_shift_start, p_shift_end, p_idem, p_hash);
    RETURN QUERY SELECT 'created'::text, p_id;
END $$;

-- The last plan of a slot: rounds with ordered stops and the unserved
-- meals with their reasons, as the JSON GET .../rounds shows (minus the
-- stops' live status). Personal data: none (order ids, diets, times).
CREATE TABLE round_plans (
    meal_point_id uuid        NOT NULL REFERENCES meal_points (id),
    date          date        NOT NULL,
    slot          text        NOT NULL CHECK (slot IN ('lunch', 'dinner')),
    planned_at    timestamptz NOT NULL,
    version       integer     NOT NULL,
    unserved      integer     NOT NULL CHECK (unserved >= 0),
    plan          jsonb       NOT NULL,
    PRIMARY KEY (meal_point_id, date, slot)
);

-- One call per plan. A plan older than the stored one (a worker's result
-- overtaken by a later plan, re-sent after a reconnect) changes nothing.
-- outcome: stored | stale.
CREATE FUNCTION md_store_rounds(p_point uuid, p_date date, p_slot text, p_version integer,
                                p_planned_us bigint, p_unserved integer, p_plan text)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO round_plans AS r (meal_point_id, date, slot, planned_at, version, unserved,
                                  plan)
    VALUES (p_point, p_date, p_slot, us_ts(p_planned_us), p_version, p_unserved,
            p_plan::jsonb)
    ON CONFLICT (meal_point_id, date, slot) DO UPDATE
        SET planned_at = excluded.planned_at, version = excluded.version,
            unserved = excluded.unserved, plan = excluded.plan
      WHERE r.version < excluded.version;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT CASE WHEN n > 0 THEN 'stored' ELSE 'stale' END;
END $$;

-- POST /v1/meals/{order_id}/failed: scheduled -> failed with MealRefused
-- {reason} (orderd fails the order, billing releases the hold: the path of
-- md_expire). outcome: applied | already (failed before: the stored
-- reason) | not_scheduled | unknown.
CREATE FUNCTION md_fail(p_order_id uuid, p_reason text, p_at_us bigint, p_out_id uuid,
                        p_payload bytea)
RETURNS TABLE (outcome text, reason text)
LANGUAGE plpgsql AS $$
DECLARE
    m meals%ROWTYPE;
BEGIN
    SELECT * INTO m FROM meals WHERE order_id = p_order_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::text;
        RETURN;
    END IF;
    IF m.status = 'failed' THEN
        RETURN QUERY SELECT 'already'::text, m.fail_reason;
        RETURN;
    END IF;
    IF m.status <> 'scheduled' THEN
        RETURN QUERY SELECT 'not_scheduled'::text, NULL::text;
        RETURN;
    END IF;
    UPDATE meals SET status = 'failed', fail_reason = p_reason, expired_at = us_ts(p_at_us)
     WHERE order_id = p_order_id;
    PERFORM cc_append('MealRefused', p_out_id, p_order_id::text, m.district_id, p_payload);
    RETURN QUERY SELECT 'applied'::text, p_reason;
END $$;

-- md_schedule gains the mode: the 005 body under another name, and the
-- mode set in the same transaction (callers of the 005 signature: delivery).
ALTER FUNCTION md_schedule(text, bigint, uuid, uuid, integer, uuid, date, text, bigint, bigint,
                           text, double precision, double precision, uuid, bytea, bytea)
    RENAME TO md_schedule_005;
CREATE FUNCTION md_schedule(p_producer text, p_seq bigint, p_event_id uuid,
                            p_order_id uuid, p_district integer, p_point uuid,
                            p_date date, p_slot text, p_window_start_us bigint,
                            p_window_end_us bigint, p_diet text,
                            p_lat double precision, p_lon double precision,
                            p_out_id uuid, p_payload bytea, p_address bytea,
                            p_mode text DEFAULT 'delivery')
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    SELECT x.outcome INTO v FROM md_schedule_005(p_producer, p_seq, p_event_id, p_order_id,
        p_district, p_point, p_date, p_slot, p_window_start_us, p_window_end_us, p_diet,
        p_lat, p_lon, p_out_id, p_payload, p_address) x;
    IF v = 'applied' AND p_mode = 'eat_in' THEN
        UPDATE meals SET mode = 'eat_in' WHERE order_id = p_order_id;
    END IF;
    RETURN QUERY SELECT v;
END $$;

GRANT SELECT, INSERT ON couriers TO meald_rt;
GRANT SELECT, INSERT, UPDATE ON round_plans TO meald_rt;
GRANT EXECUTE ON FUNCTION md_create_courier, md_store_rounds, md_fail, md_schedule,
    md_schedule_005 TO meald_rt;

-- md_create_point gains the hot-food limit (NULL: the default), as
-- md_schedule the mode: the 001 body renamed, the column set in the same
-- transaction. The limit defaults to NULL: callers of the 001 signature
-- keep working.
ALTER FUNCTION md_create_point(uuid, text, text, integer, double precision, double precision,
                               text[], integer[], integer[], text, text)
    RENAME TO md_create_point_001;
CREATE FUNCTION md_create_point(p_id uuid, p_name text, p_provider text, p_district integer,
                                p_lat double precision, p_lon double precision,
                                p_slots text[], p_capacities integer[], p_cutoffs integer[],
                                p_idem text, p_hash text, p_hot_limit integer DEFAULT NULL)
RETURNS TABLE (outcome text, meal_point_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM md_create_point_001(p_id, p_name, p_provider, p_district, p_lat,
        p_lon, p_slots, p_capacities, p_cutoffs, p_idem, p_hash) x;
    IF r.outcome = 'created' AND p_hot_limit IS NOT NULL THEN
        UPDATE meal_points SET hot_limit_min = p_hot_limit WHERE id = r.meal_point_id;
    END IF;
    RETURN QUERY SELECT r.outcome, r.meal_point_id;
END $$;
GRANT UPDATE (hot_limit_min) ON meal_points TO meald_rt;
GRANT EXECUTE ON FUNCTION md_create_point, md_create_point_001 TO meald_rt;
