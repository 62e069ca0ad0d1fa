-- billingd: delivery evidence read from dispatchd's and meald's own logs.
-- billingd captures a hold on orderd's OrderCompleted; it also records what
-- the producer that did the work reported (VisitCompleted, MealDelivered), so
-- reconciliation can check the two independently (DESIGN.md §1). No GPS
-- positions are kept: only the check-in/out times and the distance from the
-- elder's home, the evidence a provider's settlement needs.

CREATE TABLE deliveries (
    order_id      uuid        PRIMARY KEY,
    producer      text        NOT NULL CHECK (producer IN ('dispatchd', 'meald')),
    provider_id   text        NOT NULL DEFAULT '',
    visit_id      text,
    caregiver_id  text,
    meal_point_id text,
    started_at    timestamptz,
    completed_at  timestamptz NOT NULL,
    distance_m    integer,
    event_id      uuid        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- One delivery per order: the first report counts, a repeat is 'exists'.
CREATE FUNCTION bd_delivered(p_producer text, p_seq bigint, p_event_id uuid, p_order uuid,
                             p_provider text, p_visit text, p_caregiver text, p_meal_point text,
                             p_started_us bigint, p_completed_us bigint, p_distance integer)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO deliveries (order_id, producer, provider_id, visit_id, caregiver_id,
                            meal_point_id, started_at, completed_at, distance_m, event_id)
    VALUES (p_order, p_producer, coalesce(p_provider, ''), p_visit, p_caregiver, p_meal_point,
            CASE WHEN p_started_us > 0 THEN to_timestamp(p_started_us / 1e6) END,
            CASE WHEN p_completed_us > 0 THEN to_timestamp(p_completed_us / 1e6)
                 ELSE now() END,
            p_distance, p_event_id)
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'exists';
    END IF;
    RETURN 'applied';
END $$;

-- Captures and deliveries side by side. Deliveries and captures travel
-- through different logs, so the last p_grace_s seconds are left out.
CREATE FUNCTION bd_reconciliation(p_grace_s integer,
                                  OUT r_captured bigint, OUT r_delivered bigint,
                                  OUT r_captured_undelivered jsonb,
                                  OUT r_delivered_uncaptured jsonb,
                                  OUT r_provider_mismatch jsonb)
LANGUAGE sql STABLE AS $$
    WITH cut AS (SELECT now() - make_interval(secs => p_grace_s) AS t)
    SELECT
        (SELECT count(*) FROM holds WHERE state = 'captured'),
        (SELECT count(*) FROM deliveries),
        coalesce((SELECT jsonb_agg(x) FROM (
                    SELECT h.order_id, h.provider_id, h.held_fen + h.subsidy_fen AS paid_fen
                      FROM holds h, cut
                     WHERE h.state = 'captured' AND h.updated_at < cut.t
                       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = h.order_id)
                     ORDER BY h.updated_at LIMIT 100) x), '[]'::jsonb),
        coalesce((SELECT jsonb_agg(x) FROM (
                    SELECT d.order_id, d.producer, d.provider_id, h.state AS hold_state
                      FROM deliveries d CROSS JOIN cut
                      LEFT JOIN holds h ON h.order_id = d.order_id
                     WHERE d.recorded_at < cut.t
                       AND (h.state IS DISTINCT FROM 'captured')
                     ORDER BY d.recorded_at LIMIT 100) x), '[]'::jsonb),
        coalesce((SELECT jsonb_agg(x) FROM (
                    SELECT h.order_id, h.provider_id AS captured_provider,
                           d.provider_id AS delivered_provider
                      FROM holds h JOIN deliveries d ON d.order_id = h.order_id
                     WHERE h.state = 'captured' AND d.provider_id <> ''
                       AND h.provider_id IS DISTINCT FROM d.provider_id
                     LIMIT 100) x), '[]'::jsonb)
$$;
