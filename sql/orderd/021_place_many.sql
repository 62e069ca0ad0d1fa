-- A generator's batch of placements in one statement (issue 13: a week of
-- duties and plans for 100,000 elders in under a minute; docs/BENCHMARKS.md
-- "Generating a week"). Each row is decided exactly as od_order_place /
-- od_order_place_nocard decide one order (the same idempotency key rule,
-- the same "existing" comparison, the same rows and event), but the rows
-- go in with one INSERT each for orders, history and events instead of
-- three PL/pgSQL calls and five statements per order: orderd's one writer
-- connection was the bottleneck. Not for emergencies (never generated).
--
-- p_rows: a JSON array of {"id","key","card" (null: no card, "elder" then),
-- "elder","service","ws","we","notes","pid" (OrderPlaced's event id),
-- "placed" (its payload, hex),"mode"}. Returns one row per input, n from 1.
CREATE FUNCTION od_place_rows(p_rows jsonb)
RETURNS TABLE (n integer, id uuid, key text, card uuid, elder uuid, service text, ws bigint,
               we bigint, notes text, pid uuid, placed text, mode text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT o.n::integer, r.id, r.key, r.card, r.elder, r.service, r.ws, r.we,
           coalesce(r.notes, ''), r.pid, r.placed,
           CASE WHEN r.service = 'meal' THEN coalesce(r.mode, 'delivery') END
      FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS o(j, n),
           jsonb_to_record(o.j) AS r(id uuid, key text, card uuid, elder uuid, service text,
                                     ws bigint, we bigint, notes text, pid uuid, placed text,
                                     mode text)
$$;

CREATE FUNCTION od_order_place_many(p_rows jsonb, p_source text)
RETURNS TABLE (n integer, outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_created uuid[];
    v_seq bigint;
BEGIN
    -- New keys on an active card (or, without a card, a known elder) go
    -- in; a key already stored, or twice in the batch, is left to the
    -- unique index (its row is answered below as existing or conflict).
    WITH ins AS (
        INSERT INTO orders (id, idem_key, card_id, elder_id, district_id, service, state,
                            window_start, window_end, notes, emergency, source, meal_mode)
        SELECT r.id, r.key, c.id, coalesce(c.elder_id, e.id),
               coalesce(c.district_id, e.district_id), r.service, 'placed', od_ts(r.ws),
               od_ts(r.we), r.notes, false, p_source, r.mode
          FROM od_place_rows(p_rows) r
          LEFT JOIN cards c ON r.card IS NOT NULL AND c.id = r.card AND c.status = 'active'
          LEFT JOIN elders e ON r.card IS NULL AND e.id = r.elder
         WHERE (c.id IS NOT NULL OR e.id IS NOT NULL) AND r.we > r.ws
         ORDER BY r.n
        ON CONFLICT (idem_key) DO NOTHING
        RETURNING orders.id)
    SELECT array_agg(ins.id) INTO v_created FROM ins;
    IF v_created IS NOT NULL THEN
        INSERT INTO order_history (order_id, state, event, detail)
        SELECT r.id, 'placed', 'placed',
               'via ' || p_source || CASE WHEN r.card IS NULL THEN ', no card' ELSE '' END
          FROM od_place_rows(p_rows) r WHERE r.id = ANY (v_created) ORDER BY r.n;
        -- cc_append's rule for every event at once: the schema's lock, the
        -- next sequence numbers in input order, one notification.
        PERFORM pg_advisory_xact_lock(hashtext('cc_append:' || current_schema()));
        SELECT coalesce(max(e.seq), 0) INTO v_seq FROM events e;
        INSERT INTO events (seq, id, type, key, district_id, payload)
        SELECT v_seq + row_number() OVER (ORDER BY r.n), r.pid, 'OrderPlaced', r.id::text,
               coalesce(o.district_id, 0), decode(r.placed, 'hex')
          FROM od_place_rows(p_rows) r JOIN orders o ON o.id = r.id
         WHERE r.id = ANY (v_created) ORDER BY r.n;
        PERFORM pg_notify(current_schema() || '_events', '');
    END IF;
    RETURN QUERY
    SELECT r.n,
           CASE WHEN r.id = ANY (coalesce(v_created, '{}')) THEN 'created'
                WHEN o.id IS NOT NULL THEN
                    CASE WHEN ((r.card IS NOT NULL AND o.card_id = r.card)
                               OR (r.card IS NULL AND o.card_id IS NULL
                                   AND o.elder_id = r.elder))
                              AND o.service = r.service AND o.window_start = od_ts(r.ws)
                              AND o.window_end = od_ts(r.we) AND o.notes = r.notes
                              AND o.meal_mode IS NOT DISTINCT FROM r.mode
                         THEN 'existing' ELSE 'conflict' END
                WHEN r.card IS NULL THEN 'unknown_elder'
                WHEN r.we <= r.ws AND EXISTS (SELECT 1 FROM cards c WHERE c.id = r.card
                                              AND c.status = 'active') THEN 'invalid_window'
                ELSE 'card_unavailable' END,
           o.id, o.state::text
      FROM od_place_rows(p_rows) r LEFT JOIN orders o ON o.idem_key = r.key
     ORDER BY r.n;
END $$;
GRANT EXECUTE ON FUNCTION od_place_rows, od_order_place_many TO orderd_rt;
