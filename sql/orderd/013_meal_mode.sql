-- A meal order is delivered by a courier round or eaten at the canteen
-- (issue 12, "meald: couriers and rounds"). orderd keeps the mode with the
-- order and carries it in MealReleased (mode); meald plans rounds for the
-- deliveries only. Other services have no mode (NULL).
ALTER TABLE orders ADD COLUMN meal_mode text
    CHECK (meal_mode IN ('delivery', 'eat_in'));

-- od_order_place gains p_meal_mode. The body of 012 stays as it is, under
-- another name; the wrapper records the mode of a created order in the same
-- transaction. A replay ('existing') compares the mode like the other
-- fields: the same key with another mode is a conflict.
ALTER FUNCTION od_order_place(uuid, text, uuid, text, bigint, bigint, text, boolean, text,
                              uuid, bytea, uuid, bytea)
    RENAME TO od_order_place_012;

CREATE FUNCTION od_order_place(p_order uuid, p_key text, p_card uuid,
        p_service text, p_ws bigint, p_we bigint, p_notes text, p_emergency boolean,
        p_source text, p_placed_id uuid, p_placed bytea, p_released_id uuid,
        p_released bytea, p_meal_mode text DEFAULT NULL)
RETURNS TABLE (outcome text, order_id uuid, state text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_mode text := CASE WHEN p_service = 'meal' THEN coalesce(p_meal_mode, 'delivery') END;
BEGIN
    SELECT * INTO r FROM od_order_place_012(p_order, p_key, p_card, p_service, p_ws, p_we,
        p_notes, p_emergency, p_source, p_placed_id, p_placed, p_released_id, p_released) x;
    IF r.outcome = 'created' THEN
        UPDATE orders SET meal_mode = v_mode WHERE id = r.order_id;
    ELSIF r.outcome = 'existing' AND EXISTS (SELECT 1 FROM orders o WHERE o.id = r.order_id
              AND o.meal_mode IS DISTINCT FROM v_mode) THEN
        r.outcome := 'conflict';
    END IF;
    RETURN QUERY SELECT r.outcome, r.order_id, r.state;
END $$;

GRANT EXECUTE ON FUNCTION od_order_place TO orderd_rt;
