-- Requests' placements gathered on the writer (services/orderd/od_app.c
-- s_gather): HTTP and ZeroMQ placements waiting for the writer's next batch
-- go in one statement, as the generators' batches do (021). Measured in
-- intake alone (docs/BENCHMARKS.md, Issue 10, "Placements gathered on the
-- writer"): 021's od_order_place_many read its JSON rows four times
-- (jsonb_to_record per row and pass, ~60 µs per row), more than the
-- statements it saves, and its joins with orders, cards and elders could be
-- planned as hash joins over whole tables (a generic plan guesses 100 rows
-- for a function's result): 811 µs of CPU per order. od_order_place_cols
-- looks each row up by index (LATERAL ... OFFSET 0), takes the districts of
-- the new orders from the INSERT itself, and takes one array per column
-- instead (unnest: each element read once, by its type's input function)
-- and decides each row exactly as 021 does: the same key rule, the same
-- "existing" comparison, the same rows and event; each row names its own
-- source (HTTP and ZeroMQ placements share a statement). od_order_place_many
-- keeps its signature for the generators and tests and now reads its JSON
-- once, into the columns, and calls it.

-- The rows as 021's od_place_rows gives them, from the columns.
CREATE FUNCTION od_place_cols(p_id uuid[], p_key text[], p_card uuid[], p_elder uuid[],
        p_service text[], p_ws bigint[], p_we bigint[], p_notes text[], p_pid uuid[],
        p_placed bytea[], p_mode text[], p_source text[])
RETURNS TABLE (n integer, id uuid, key text, card uuid, elder uuid, service text, ws bigint,
               we bigint, notes text, pid uuid, placed bytea, mode text, source text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT r.n::integer, r.id, r.key, r.card, r.elder, r.service, r.ws, r.we,
           coalesce(r.notes, ''), r.pid, r.placed,
           CASE WHEN r.service = 'meal' THEN coalesce(r.mode, 'delivery') END, r.source
      FROM unnest(p_id, p_key, p_card, p_elder, p_service, p_ws, p_we, p_notes, p_pid,
                  p_placed, p_mode, p_source) WITH ORDINALITY
           AS r(id, key, card, elder, service, ws, we, notes, pid, placed, mode, source, n)
$$;

CREATE FUNCTION od_order_place_cols(p_id uuid[], p_key text[], p_card uuid[],
        p_elder uuid[], p_service text[], p_ws bigint[], p_we bigint[], p_notes text[],
        p_pid uuid[], p_placed bytea[], p_mode text[], p_source text[])
RETURNS TABLE (n integer, outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    v_created uuid[];
    v_district integer[];
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
               od_ts(r.we), r.notes, false, r.source, r.mode
          FROM od_place_cols(p_id, p_key, p_card, p_elder, p_service, p_ws, p_we, p_notes,
                             p_pid, p_placed, p_mode, p_source) r
          -- One index probe per row (OFFSET 0 keeps the subquery a
          -- parameterised scan): the rows are few, the tables large.
          LEFT JOIN LATERAL (SELECT c.id, c.elder_id, c.district_id FROM cards c
                              WHERE r.card IS NOT NULL AND c.id = r.card
                                AND c.status = 'active' OFFSET 0) c ON true
          LEFT JOIN LATERAL (SELECT e.id, e.district_id FROM elders e
                              WHERE r.card IS NULL AND e.id = r.elder OFFSET 0) e ON true
         WHERE (c.id IS NOT NULL OR e.id IS NOT NULL) AND r.we > r.ws
         ORDER BY r.n
        ON CONFLICT (idem_key) DO NOTHING
        RETURNING orders.id, orders.district_id)
    SELECT array_agg(ins.id), array_agg(ins.district_id) INTO v_created, v_district FROM ins;
    IF v_created IS NOT NULL THEN
        INSERT INTO order_history (order_id, state, event, detail)
        SELECT r.id, 'placed', 'placed',
               'via ' || r.source || CASE WHEN r.card IS NULL THEN ', no card' ELSE '' END
          FROM od_place_cols(p_id, p_key, p_card, p_elder, p_service, p_ws, p_we, p_notes,
                             p_pid, p_placed, p_mode, p_source) r
         WHERE r.id = ANY (v_created) ORDER BY r.n;
        -- cc_append's rule for every event at once: the schema's lock, the
        -- next sequence numbers in input order, one notification.
        PERFORM pg_advisory_xact_lock(hashtext('cc_append:' || current_schema()));
        SELECT coalesce(max(e.seq), 0) INTO v_seq FROM events e;
        INSERT INTO events (seq, id, type, key, district_id, payload)
        SELECT v_seq + row_number() OVER (ORDER BY r.n), r.pid, 'OrderPlaced', r.id::text,
               coalesce(x.district_id, 0), r.placed
          FROM od_place_cols(p_id, p_key, p_card, p_elder, p_service, p_ws, p_we, p_notes,
                             p_pid, p_placed, p_mode, p_source) r
          JOIN unnest(v_created, v_district) AS x(id, district_id) ON x.id = r.id
         ORDER BY r.n;
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
      FROM od_place_cols(p_id, p_key, p_card, p_elder, p_service, p_ws, p_we, p_notes,
                         p_pid, p_placed, p_mode, p_source) r
      LEFT JOIN LATERAL (SELECT o.id, o.card_id, o.elder_id, o.service, o.window_start,
                                o.window_end, o.notes, o.meal_mode, o.state
                           FROM orders o WHERE o.idem_key = r.key OFFSET 0) o ON true
     ORDER BY r.n;
END $$;

-- 021's signature: the JSON read once into the columns.
CREATE OR REPLACE FUNCTION od_order_place_many(p_rows jsonb, p_source text)
RETURNS TABLE (n integer, outcome text, order_id uuid, state text)
LANGUAGE sql AS $$
    SELECT p.n, p.outcome, p.order_id, p.state
      FROM (SELECT array_agg(r.id ORDER BY r.n) AS id, array_agg(r.key ORDER BY r.n) AS key,
                   array_agg(r.card ORDER BY r.n) AS card,
                   array_agg(r.elder ORDER BY r.n) AS elder,
                   array_agg(r.service ORDER BY r.n) AS service,
                   array_agg(r.ws ORDER BY r.n) AS ws, array_agg(r.we ORDER BY r.n) AS we,
                   array_agg(r.notes ORDER BY r.n) AS notes,
                   array_agg(r.pid ORDER BY r.n) AS pid,
                   array_agg(decode(r.placed, 'hex') ORDER BY r.n) AS placed,
                   array_agg(r.mode ORDER BY r.n) AS mode,
                   array_agg(p_source) AS source
              FROM od_place_rows(p_rows) r) c,
           od_order_place_cols(c.id, c.key, c.card, c.elder, c.service, c.ws, c.we, c.notes,
                               c.pid, c.placed, c.mode, c.source) p
     ORDER BY p.n
$$;

GRANT EXECUTE ON FUNCTION od_place_cols, od_order_place_cols TO orderd_rt;
