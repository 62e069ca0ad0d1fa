-- Care plans (issue 13): recurring services an elder or family agreed to,
-- e.g. lunch every weekday at a meal point, a bath every Tuesday and Friday
-- 09:00-11:00. orderd's generator (services/orderd/od_plans.c) places each
-- occurrence within a horizon as an ordinary order, through the same saga
-- as POST /v1/orders, with source 'plan' and the idempotency key
--   plan:<plan id>:<yyyy-mm-dd>            (rev 1)
--   plan:<plan id>:<yyyy-mm-dd>:r<rev>     (after a change that cancelled
--                                           occurrences: pause, PATCH, end)
-- so that a re-run or a crash in the middle creates nothing twice (the
-- unique orders_idem_key is the final guard), and a date whose occurrence
-- was cancelled by a change can be placed again under the new rule.
--
-- orders.source gains the value 'plan' (no CHECK constrains source).
--
-- rev               raised by every change that cancels future occurrences.
-- generated_through the last date placed under this rev (NULL: none yet);
--                   the generator carries on after it, so its work per
--                   tick is bounded by what is new.
CREATE TABLE plans (
    id               uuid        PRIMARY KEY,
    elder_id         uuid        NOT NULL REFERENCES elders (id),
    card_id          uuid        REFERENCES cards (id),   -- NULL: the elder's active card
    service          od_service  NOT NULL,
    rrule            text        NOT NULL CHECK (length(rrule) BETWEEN 1 AND 512),
    window_start_min smallint    NOT NULL CHECK (window_start_min BETWEEN 0 AND 1439),
    window_end_min   smallint    NOT NULL CHECK (window_end_min BETWEEN 1 AND 1440),
    starts_on        date        NOT NULL,
    ends_on          date,
    meal_point_id    uuid,
    diet             text,
    meal_mode        text        CHECK (meal_mode IN ('delivery', 'eat_in')),
    notes            text        NOT NULL DEFAULT '' CHECK (length(notes) <= 1000),
    status           text        NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'paused', 'ended')),
    ended_reason     text,
    rev              integer     NOT NULL DEFAULT 1,
    generated_through date,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (window_end_min > window_start_min),
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CHECK ((service = 'meal') OR (meal_point_id IS NULL AND diet IS NULL AND meal_mode IS NULL))
);
CREATE INDEX plans_elder ON plans (elder_id, created_at);
-- The generator's pick: active plans, least far generated first.
CREATE INDEX plans_due ON plans (generated_through NULLS FIRST, id) WHERE status = 'active';

CREATE TABLE plan_skips (
    plan_id uuid NOT NULL REFERENCES plans (id),
    day     date NOT NULL,
    PRIMARY KEY (plan_id, day)
);

-- What was done to a plan, by whom the audit trail says.
CREATE TABLE plan_history (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id uuid        NOT NULL REFERENCES plans (id),
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    action  text        NOT NULL,
    rev     integer     NOT NULL,
    detail  text        NOT NULL DEFAULT ''
);
CREATE INDEX plan_history_plan ON plan_history (plan_id, id);

-- An order placed for a plan names it, set from its key in the same
-- INSERT (a trigger: od_order_place stays as it is, and the link commits
-- with the order or not at all).
ALTER TABLE orders ADD COLUMN plan_id uuid, ADD COLUMN plan_day date;
CREATE INDEX orders_plan ON orders (plan_id, plan_day) WHERE plan_id IS NOT NULL;

CREATE FUNCTION od_orders_plan_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.idem_key ~ '^plan:[0-9a-f-]{36}:[0-9]{4}-[0-9]{2}-[0-9]{2}(:r[0-9]+)?$' THEN
        NEW.plan_id := split_part(NEW.idem_key, ':', 2)::uuid;
        NEW.plan_day := split_part(NEW.idem_key, ':', 3)::date;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orders_plan_link BEFORE INSERT ON orders
    FOR EACH ROW WHEN (NEW.source = 'plan') EXECUTE FUNCTION od_orders_plan_link();

-- The open occurrences of a plan that a change cancels: not yet begun
-- (window_start after p_now_us) and in a cancellable state.
CREATE FUNCTION od_plan_future(p_plan uuid, p_now_us bigint, p_after date)
RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(o.id ORDER BY o.window_start), '{}')
    FROM orders o
    WHERE o.plan_id = p_plan AND o.window_start > od_ts(p_now_us)
      AND (p_after IS NULL OR o.plan_day > p_after)
      AND od_state_cancellable(o.state)
$$;

-- outcome: created | unknown_elder | elder_not_active | unknown_card |
-- card_not_elders | card_not_active | no_active_card. A batch re-sent
-- after its COMMIT (reconnect) finds its own row: created.
CREATE FUNCTION od_plan_create(p_id uuid, p_elder uuid, p_card uuid, p_service text,
        p_rrule text, p_ws smallint, p_we smallint, p_starts date, p_ends date,
        p_meal_point uuid, p_diet text, p_meal_mode text, p_notes text)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    c record;
BEGIN
    IF EXISTS (SELECT 1 FROM plans WHERE id = p_id) THEN
        RETURN QUERY SELECT 'created'::text;
        RETURN;
    END IF;
    SELECT e.status INTO v_status FROM elders e WHERE e.id = p_elder;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text;
        RETURN;
    END IF;
    IF v_status <> 'active' THEN
        RETURN QUERY SELECT 'elder_not_active'::text;
        RETURN;
    END IF;
    IF p_card IS NOT NULL THEN
        SELECT * INTO c FROM cards WHERE id = p_card;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'unknown_card'::text;
            RETURN;
        ELSIF c.elder_id <> p_elder THEN
            RETURN QUERY SELECT 'card_not_elders'::text;
            RETURN;
        ELSIF c.status <> 'active' THEN
            RETURN QUERY SELECT 'card_not_active'::text;
            RETURN;
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM cards WHERE elder_id = p_elder AND status = 'active') THEN
        RETURN QUERY SELECT 'no_active_card'::text;
        RETURN;
    END IF;
    INSERT INTO plans (id, elder_id, card_id, service, rrule, window_start_min, window_end_min,
                       starts_on, ends_on, meal_point_id, diet, meal_mode, notes)
    VALUES (p_id, p_elder, p_card, p_service, p_rrule, p_ws, p_we, p_starts, p_ends,
            p_meal_point, p_diet, p_meal_mode, coalesce(p_notes, ''));
    INSERT INTO plan_history (plan_id, action, rev) VALUES (p_id, 'created', 1);
    RETURN QUERY SELECT 'created'::text;
END $$;

-- A change of the rule (PATCH), made against the rev the caller read:
-- outcome updated | unknown_plan | conflict (changed meanwhile: read again)
-- | ended; cancel lists the occurrences to cancel (future ones, every rev),
-- placed again under the new rule by the generator.
CREATE FUNCTION od_plan_update(p_id uuid, p_rev integer, p_card uuid, p_rrule text,
        p_ws smallint, p_we smallint, p_starts date, p_ends date, p_meal_point uuid,
        p_diet text, p_meal_mode text, p_notes text, p_now_us bigint, p_detail text)
RETURNS TABLE (outcome text, rev integer, cancel uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    SELECT * INTO p FROM plans WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_plan'::text, NULL::integer, '{}'::uuid[];
        RETURN;
    END IF;
    IF p.status = 'ended' THEN
        RETURN QUERY SELECT 'ended'::text, p.rev, '{}'::uuid[];
        RETURN;
    END IF;
    IF p.rev <> p_rev THEN
        RETURN QUERY SELECT 'conflict'::text, p.rev, '{}'::uuid[];
        RETURN;
    END IF;
    UPDATE plans SET card_id = p_card, rrule = p_rrule, window_start_min = p_ws,
           window_end_min = p_we, starts_on = p_starts, ends_on = p_ends,
           meal_point_id = p_meal_point, diet = p_diet, meal_mode = p_meal_mode,
           notes = coalesce(p_notes, ''), rev = p.rev + 1, generated_through = NULL,
           updated_at = clock_timestamp()
     WHERE id = p_id;
    INSERT INTO plan_history (plan_id, action, rev, detail)
    VALUES (p_id, 'updated', p.rev + 1, coalesce(p_detail, ''));
    RETURN QUERY SELECT 'updated'::text, p.rev + 1, od_plan_future(p_id, p_now_us, NULL);
END $$;

-- pause | resume | end: outcome done | unknown_plan | ended | not_paused |
-- not_active | before_start; cancel as od_plan_update's. Pausing cancels
-- the future occurrences; resuming regenerates from now under a new rev;
-- ending on p_day cancels those after it.
CREATE FUNCTION od_plan_set(p_id uuid, p_action text, p_day date, p_now_us bigint)
RETURNS TABLE (outcome text, rev integer, cancel uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    v_cancel uuid[] := '{}';
BEGIN
    SELECT * INTO p FROM plans WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_plan'::text, NULL::integer, '{}'::uuid[];
        RETURN;
    END IF;
    IF p.status = 'ended' THEN
        RETURN QUERY SELECT 'ended'::text, p.rev, '{}'::uuid[];
        RETURN;
    END IF;
    IF p_action = 'pause' THEN
        IF p.status <> 'active' THEN
            RETURN QUERY SELECT 'not_active'::text, p.rev, '{}'::uuid[];
            RETURN;
        END IF;
        v_cancel := od_plan_future(p_id, p_now_us, NULL);
        UPDATE plans SET status = 'paused', rev = p.rev + 1, generated_through = NULL,
               updated_at = clock_timestamp() WHERE id = p_id;
    ELSIF p_action = 'resume' THEN
        IF p.status <> 'paused' THEN
            RETURN QUERY SELECT 'not_paused'::text, p.rev, '{}'::uuid[];
            RETURN;
        END IF;
        UPDATE plans SET status = 'active', generated_through = NULL,
               updated_at = clock_timestamp() WHERE id = p_id;
    ELSIF p_action = 'end' THEN
        IF p_day < p.starts_on THEN
            RETURN QUERY SELECT 'before_start'::text, p.rev, '{}'::uuid[];
            RETURN;
        END IF;
        v_cancel := od_plan_future(p_id, p_now_us, p_day);
        UPDATE plans SET ends_on = p_day, rev = p.rev + 1, generated_through = NULL,
               updated_at = clock_timestamp() WHERE id = p_id;
    ELSE
        RAISE EXCEPTION 'od_plan_set: unknown action %', p_action;
    END IF;
    INSERT INTO plan_history (plan_id, action, rev, detail)
    SELECT p_id, p_action, pl.rev, coalesce(p_day::text, '') FROM plans pl WHERE pl.id = p_id;
    RETURN QUERY SELECT 'done'::text, pl.rev, v_cancel FROM plans pl WHERE pl.id = p_id;
END $$;

-- Skip one date: outcome skipped | unknown_plan | ended | started (its
-- occurrence has begun: too late); cancel: that date's open occurrence.
CREATE FUNCTION od_plan_skip(p_id uuid, p_day date, p_now_us bigint)
RETURNS TABLE (outcome text, rev integer, cancel uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    SELECT * INTO p FROM plans WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_plan'::text, NULL::integer, '{}'::uuid[];
        RETURN;
    END IF;
    IF p.status = 'ended' THEN
        RETURN QUERY SELECT 'ended'::text, p.rev, '{}'::uuid[];
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM orders o WHERE o.plan_id = p_id AND o.plan_day = p_day
                 AND o.window_start <= od_ts(p_now_us)
                 AND o.state NOT IN ('cancelled', 'denied')) THEN
        RETURN QUERY SELECT 'started'::text, p.rev, '{}'::uuid[];
        RETURN;
    END IF;
    INSERT INTO plan_skips (plan_id, day) VALUES (p_id, p_day) ON CONFLICT DO NOTHING;
    INSERT INTO plan_history (plan_id, action, rev, detail)
    VALUES (p_id, 'skip', p.rev, p_day::text);
    RETURN QUERY SELECT 'skipped'::text, p.rev,
        coalesce((SELECT array_agg(o.id) FROM orders o
                  WHERE o.plan_id = p_id AND o.plan_day = p_day
                    AND od_state_cancellable(o.state)), '{}');
END $$;

-- The generator placed every occurrence of rev up to p_through. A plan
-- changed meanwhile (another rev) keeps its own mark.
CREATE FUNCTION od_plan_generated(p_id uuid, p_rev integer, p_through date)
RETURNS TABLE (outcome text)
LANGUAGE sql AS $$
    UPDATE plans SET generated_through = p_through
     WHERE id = p_id AND rev = p_rev
       AND (generated_through IS NULL OR generated_through < p_through)
    RETURNING 'done'::text
$$;

-- Plans of elders who died or moved away end (at most p_limit per call);
-- cancel lists their open future occurrences. An elder in hospital keeps
-- his plans: the generator only places nothing for him meanwhile.
CREATE FUNCTION od_plans_end_inactive(p_now_us bigint, p_limit integer)
RETURNS TABLE (plan_id uuid, cancel uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT p.id, e.status FROM plans p JOIN elders e ON e.id = p.elder_id
              WHERE p.status <> 'ended' AND e.status IN ('deceased', 'moved_away')
              LIMIT p_limit FOR UPDATE OF p LOOP
        UPDATE plans SET status = 'ended', ended_reason = 'elder_' || r.status,
               rev = rev + 1, generated_through = NULL, updated_at = clock_timestamp()
         WHERE id = r.id;
        INSERT INTO plan_history (plan_id, action, rev, detail)
        SELECT r.id, 'ended', pl.rev, 'elder_' || r.status FROM plans pl WHERE pl.id = r.id;
        plan_id := r.id;
        cancel := od_plan_future(r.id, p_now_us, NULL);
        RETURN NEXT;
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON plans TO orderd_rt;
GRANT SELECT, INSERT ON plan_skips, plan_history TO orderd_rt;
GRANT USAGE ON SEQUENCE plan_history_id_seq TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_plan_future, od_plan_create, od_plan_update, od_plan_set,
    od_plan_skip, od_plan_generated, od_plans_end_inactive, od_orders_plan_link TO orderd_rt;
