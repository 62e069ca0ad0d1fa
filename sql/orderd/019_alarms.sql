-- Alarms (issue 13): a smart device (fall detector, smoke or gas alarm, SOS
-- button) raises an emergency at once, for an elder with a card, a blocked
-- card or none; the elder's contacts are notified through an outbox; an
-- alarm nobody acknowledges in time goes to the call centre's queue
-- (docs/ALARMS.md).
--
-- Orders without a card: card_id becomes nullable. Such an order is billed
-- to the fund by billingd (OrderPlaced.card_id "", sql/billingd/007).
ALTER TABLE orders ALTER COLUMN card_id DROP NOT NULL;

-- od_order_place for an order without a card (an operator's emergency for an
-- elder with none; generated mandated orders): the elder instead of the
-- card, otherwise as od_order_place of 012/013 (the same outcomes;
-- unknown_elder instead of card_unavailable; a replay compares the elder).
CREATE FUNCTION od_order_place_nocard(p_order uuid, p_key text, p_elder uuid,
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
    SELECT * INTO o FROM orders WHERE idem_key = p_key;
    IF FOUND THEN
        IF o.card_id IS NULL AND o.elder_id = p_elder AND o.service = p_service
           AND o.window_start = od_ts(p_ws) AND o.window_end = od_ts(p_we)
           AND o.notes = coalesce(p_notes, '') AND o.meal_mode IS NOT DISTINCT FROM v_mode THEN
            RETURN QUERY SELECT 'existing'::text, o.id, o.state::text;
        ELSE
            RETURN QUERY SELECT 'conflict'::text, o.id, o.state::text;
        END IF;
        RETURN;
    END IF;
    SELECT e.district_id INTO v_district FROM elders e WHERE e.id = p_elder;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text, NULL::uuid, NULL::text;
        RETURN;
    END IF;
    -- A concurrent insert of the same key is an SQL error (unique index):
    -- orderd has one writer, so none comes.
    INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                        window_start, window_end, notes, emergency, source, meal_mode)
    VALUES (p_order, p_key, NULL, p_elder, v_district, p_service, v_state, od_ts(p_ws),
            od_ts(p_we), coalesce(p_notes, ''), p_emergency, p_source, v_mode);
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, 'placed', 'placed', 'via ' || p_source || ', no card');
    PERFORM cc_append('OrderPlaced', p_placed_id, p_order::text, v_district, p_placed);
    IF p_emergency THEN
        INSERT INTO order_history (order_id, state, event, detail)
        VALUES (p_order, 'released', 'released', 'emergency: dispatched at once');
        PERFORM cc_append(CASE WHEN p_service = 'meal' THEN 'MealReleased'
                               ELSE 'VisitReleased' END,
                          p_released_id, p_order::text, v_district, p_released);
    END IF;
    RETURN QUERY SELECT 'created'::text, p_order, v_state;
END $$;

-- One row per alarm; a gateway's retry (same device, same time) finds it.
CREATE TABLE alarms (
    id           uuid        PRIMARY KEY,
    device_id    text        NOT NULL CHECK (length(device_id) BETWEEN 1 AND 64),
    elder_id     uuid        NOT NULL REFERENCES elders (id),
    district_id  integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('fall', 'smoke', 'gas', 'sos', 'other')),
    at           timestamptz NOT NULL,          -- when the device raised it
    source       text        NOT NULL,          -- http | zmq
    order_id     uuid        NOT NULL REFERENCES orders (id),
    state        text        NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'escalated')),
    raised_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    escalated_at timestamptz,
    acked_at     timestamptz,
    acked_by     text,                           -- account subject (sub), never a name
    UNIQUE (device_id, at)
);
CREATE INDEX alarms_open ON alarms (raised_at) WHERE state = 'open';
CREATE INDEX alarms_state ON alarms (state, raised_at DESC);

-- The outbox: one row per contact per alarm, written in the alarm's
-- transaction; orderd sends them (services/orderd/od_notify.c). The phone
-- stays sealed in elder_contacts and is opened only to be sent.
--   pending    to send at next_at (claimed rows move next_at by a lease,
--              so a crash in the middle sends again after it, never loses)
--   sent       the gateway took it (message_id)
--   delivered  the gateway's receipt came
--   failed     given up (attempts used, or a 4xx the gateway will not take)
--   cancelled  the alarm was acknowledged before it went out
CREATE TABLE notify_outbox (
    id           uuid        PRIMARY KEY,
    alarm_id     uuid        NOT NULL REFERENCES alarms (id),
    contact_id   uuid        NOT NULL REFERENCES elder_contacts (id),
    priority     smallint    NOT NULL,
    state        text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sent', 'delivered', 'failed', 'cancelled')),
    attempts     integer     NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    message_id   text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (alarm_id, contact_id)
);
CREATE INDEX notify_outbox_due ON notify_outbox (next_at) WHERE state = 'pending';

-- Raise an alarm: the alarm, its emergency order (OrderPlaced and the
-- release appended, as od_order_place does for an emergency) and one outbox
-- row per contact, in one transaction. p_card is the elder's card chosen in
-- C (active, else blocked: still an emergency), NULL when none. outcome:
--   created        all written
--   existing       this device raised this alarm at this time before: the
--                  first alarm and order (a gateway's retry)
--   conflict       this device raised another alarm (elder, kind) at this time
--   unknown_elder  no such elder
--   key_taken      the order's key was used by another request (nothing written)
CREATE FUNCTION od_alarm_raise(p_alarm uuid, p_device text, p_elder uuid, p_kind text,
        p_at bigint, p_source text, p_order uuid, p_key text, p_card uuid, p_ws bigint,
        p_we bigint, p_notes text, p_placed_id uuid, p_placed bytea, p_released_id uuid,
        p_released bytea)
RETURNS TABLE (outcome text, alarm_id uuid, order_id uuid, state text, contacts integer)
LANGUAGE plpgsql AS $$
DECLARE
    a alarms%ROWTYPE;
    v_district integer;
    v_n integer;
BEGIN
    SELECT * INTO a FROM alarms x WHERE x.device_id = p_device AND x.at = od_ts(p_at);
    IF FOUND THEN
        RETURN QUERY SELECT CASE WHEN a.elder_id = p_elder AND a.kind = p_kind
                                 THEN 'existing' ELSE 'conflict' END, a.id, a.order_id, a.state,
            (SELECT count(*)::integer FROM notify_outbox n WHERE n.alarm_id = a.id);
        RETURN;
    END IF;
    SELECT e.district_id INTO v_district FROM elders e WHERE e.id = p_elder;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text, NULL::uuid, NULL::uuid, NULL::text, 0;
        RETURN;
    END IF;
    INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                        window_start, window_end, notes, emergency, source)
    VALUES (p_order, p_key, p_card, p_elder, v_district, 'emergency', 'released',
            od_ts(p_ws), od_ts(p_we), coalesce(p_notes, ''), true, 'alarm')
    ON CONFLICT (idem_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'key_taken'::text, NULL::uuid, NULL::uuid, NULL::text, 0;
        RETURN;
    END IF;
    INSERT INTO order_history (order_id, state, event, detail)
    VALUES (p_order, 'placed', 'placed', 'via alarm (' || p_kind || ')'),
           (p_order, 'released', 'released', 'emergency: dispatched at once');
    PERFORM cc_append('OrderPlaced', p_placed_id, p_order::text, v_district, p_placed);
    PERFORM cc_append('VisitReleased', p_released_id, p_order::text, v_district, p_released);
    INSERT INTO alarms (id, device_id, elder_id, district_id, kind, at, source, order_id)
    VALUES (p_alarm, p_device, p_elder, v_district, p_kind, od_ts(p_at), p_source, p_order);
    INSERT INTO notify_outbox (id, alarm_id, contact_id, priority)
    SELECT gen_random_uuid(), p_alarm, c.id, c.priority
      FROM elder_contacts c WHERE c.elder_id = p_elder;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN QUERY SELECT 'created'::text, p_alarm, p_order, 'released'::text, v_n;
END $$;

-- Acknowledge (a contact through the call centre, or the operator): open or
-- escalated -> acknowledged; notifications not yet sent are cancelled.
-- outcome: acknowledged | already_acknowledged | unknown_alarm.
CREATE FUNCTION od_alarm_ack(p_alarm uuid, p_by text)
RETURNS TABLE (outcome text, state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    SELECT a.state INTO v_state FROM alarms a WHERE a.id = p_alarm FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_alarm'::text, NULL::text;
        RETURN;
    END IF;
    IF v_state = 'acknowledged' THEN
        RETURN QUERY SELECT 'already_acknowledged'::text, v_state;
        RETURN;
    END IF;
    UPDATE alarms SET state = 'acknowledged', acked_at = clock_timestamp(), acked_by = p_by
     WHERE id = p_alarm;
    UPDATE notify_outbox SET state = 'cancelled', updated_at = clock_timestamp()
     WHERE notify_outbox.alarm_id = p_alarm AND notify_outbox.state = 'pending';
    RETURN QUERY SELECT 'acknowledged'::text, 'acknowledged'::text;
END $$;

-- Open alarms raised more than p_after_s seconds ago go to the call
-- centre's queue. Returns the ones moved now (each counted once).
CREATE FUNCTION od_alarm_escalate(p_after_s integer)
RETURNS TABLE (alarm_id uuid, district_id integer)
LANGUAGE sql AS $$
    UPDATE alarms SET state = 'escalated', escalated_at = clock_timestamp()
     WHERE state = 'open' AND raised_at <= clock_timestamp() - p_after_s * interval '1 second'
    RETURNING id, district_id
$$;

-- Claim up to p_limit due notifications: each is leased for p_lease_s
-- seconds (next_at moves) and its attempt counted before it is sent. The
-- sealed phone comes along; orderd opens it only to send it.
CREATE FUNCTION od_notify_claim(p_limit integer, p_lease_s integer)
RETURNS TABLE (id uuid, alarm_id uuid, contact_id uuid, attempts integer, kind text,
               elder_id uuid, district_id integer, relation text, phone_enc bytea,
               order_id uuid)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT n.id FROM notify_outbox n
         WHERE n.state = 'pending' AND n.next_at <= clock_timestamp()
         ORDER BY n.next_at, n.priority
         LIMIT p_limit FOR UPDATE SKIP LOCKED),
    claimed AS (
        UPDATE notify_outbox n
           SET attempts = n.attempts + 1, updated_at = clock_timestamp(),
               next_at = clock_timestamp() + p_lease_s * interval '1 second'
          FROM due WHERE n.id = due.id
        RETURNING n.id, n.alarm_id, n.contact_id, n.attempts)
    SELECT c.id, c.alarm_id, c.contact_id, c.attempts, a.kind, a.elder_id, a.district_id,
           k.relation, k.phone_enc, a.order_id
      FROM claimed c JOIN alarms a ON a.id = c.alarm_id
      JOIN elder_contacts k ON k.id = c.contact_id
$$;

-- The result of one send. p_ok: sent (message id). Not ok: p_retry_ms > 0
-- tries again after that many milliseconds, else failed. A row no longer pending
-- (acknowledged meanwhile, or a receipt that came first) keeps its state.
-- Returns the state after.
CREATE FUNCTION od_notify_result(p_id uuid, p_ok boolean, p_message_id text, p_error text,
                                 p_retry_ms integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    UPDATE notify_outbox n
       SET state = CASE WHEN p_ok THEN 'sent' WHEN p_retry_ms > 0 THEN 'pending'
                        ELSE 'failed' END,
           message_id = CASE WHEN p_ok THEN p_message_id ELSE n.message_id END,
           last_error = CASE WHEN p_ok THEN NULL ELSE p_error END,
           next_at = CASE WHEN p_ok OR p_retry_ms <= 0 THEN n.next_at
                          ELSE clock_timestamp() + p_retry_ms * interval '1 millisecond' END,
           updated_at = clock_timestamp()
     WHERE n.id = p_id AND n.state = 'pending'
    RETURNING n.state INTO v_state;
    IF NOT FOUND THEN
        SELECT n.state INTO v_state FROM notify_outbox n WHERE n.id = p_id;
    END IF;
    RETURN v_state;
END $$;

-- A delivery receipt: delivered (or failed) once; outcome: delivered |
-- failed | unchanged (already final) | not_sent | unknown.
CREATE FUNCTION od_notify_receipt(p_id uuid, p_status text)
RETURNS TABLE (outcome text, state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    SELECT n.state INTO v_state FROM notify_outbox n WHERE n.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::text;
        RETURN;
    END IF;
    IF v_state IN ('delivered', 'failed', 'cancelled') THEN
        RETURN QUERY SELECT 'unchanged'::text, v_state;
        RETURN;
    END IF;
    IF v_state = 'pending' THEN
        RETURN QUERY SELECT 'not_sent'::text, v_state;
        RETURN;
    END IF;
    UPDATE notify_outbox SET state = p_status, updated_at = clock_timestamp()
     WHERE id = p_id;
    RETURN QUERY SELECT p_status, p_status;
END $$;

GRANT SELECT, INSERT, UPDATE ON alarms, notify_outbox TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_order_place_nocard, od_alarm_raise, od_alarm_ack, od_alarm_escalate, od_notify_claim,
    od_notify_result, od_notify_receipt TO orderd_rt;
