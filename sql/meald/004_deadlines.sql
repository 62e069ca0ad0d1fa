-- The delivery deadline of a scheduled meal, as data (issue 11; the design is
-- docs/ARCHITECTURE.md "Deadlines", the rule services/meald/md_domain.h).
--
-- One row per slot, read by meald at start and every --deadlines-refresh-s.
-- A meal not reported delivered deliver_s after its window's end is overdue
-- (GET /v1/meals/overdue lists it); overdue_s later it is undelivered:
-- MealRefused{reason: not_delivered}, and orderd fails the order, so billing
-- releases the hold. The window is stored (meals.window_end): a restart
-- resolves what expired while meald was down.

CREATE TABLE deadlines (
    slot      text    PRIMARY KEY CHECK (slot IN ('lunch', 'dinner')),
    deliver_s integer NOT NULL CHECK (deliver_s BETWEEN 0 AND 86400),
    overdue_s integer NOT NULL CHECK (overdue_s BETWEEN 0 AND 86400)
);

-- Defaults (docs/ARCHITECTURE.md "Deadlines"): an hour past the window for
-- a late courier's report, an hour shown overdue for the meal point to call.
INSERT INTO deadlines (slot, deliver_s, overdue_s)
VALUES ('lunch', 3600, 3600), ('dinner', 3600, 3600);

-- A scheduled meal whose deadline passed: 'undelivered' (its place stays
-- taken: the food was made). The column CHECK is replaced; the table is
-- scanned once to validate it.
ALTER TABLE meals DROP CONSTRAINT meals_status_check,
    ADD CONSTRAINT meals_status_check
        CHECK (status IN ('scheduled', 'refused', 'cancelled', 'delivered', 'undelivered'));
ALTER TABLE meals ADD COLUMN expired_at timestamptz;

-- The sweep: scheduled -> undelivered with MealRefused. outcome: applied |
-- noop (no longer scheduled: delivered, cancelled, or a replayed batch).
CREATE FUNCTION md_expire(p_order_id uuid, p_at_us bigint, p_out_id uuid, p_payload bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    m meals%ROWTYPE;
BEGIN
    UPDATE meals SET status = 'undelivered', expired_at = us_ts(p_at_us)
     WHERE order_id = p_order_id AND status = 'scheduled'
    RETURNING * INTO m;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'noop'::text;
        RETURN;
    END IF;
    PERFORM cc_append('MealRefused', p_out_id, p_order_id::text, m.district_id, p_payload);
    RETURN QUERY SELECT 'applied'::text;
END $$;

GRANT SELECT ON deadlines TO meald_rt;
GRANT EXECUTE ON FUNCTION md_expire TO meald_rt;
