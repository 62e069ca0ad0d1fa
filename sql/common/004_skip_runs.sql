-- A run of events a consumer ignores costs one statement and one inbox row,
-- not one of each per event.
--
-- Every daemon consumes logs full of events it does not apply (meald ignores
-- every order that is not a meal, billingd every OrderReleased, dispatchd
-- every OrderPlaced). Recording each with cc_consume() was half of the
-- plpgsql calls per order end to end. cc_skip() records a run first..last of
-- ignored events as the inbox row of its last event, under the same in-order
-- rule as cc_consume(): a run may only start right after the stored position
-- (or again, as a no-op), so a failed effect before it still stops the log.
-- Events inside a run get no row; the position (max seq in inbox) passes
-- them, so they are never fetched again.
CREATE FUNCTION cc_skip(p_producer text, p_first bigint, p_last bigint, p_last_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
BEGIN
    IF p_first > p_last THEN
        RAISE EXCEPTION 'cc_skip: % run % .. % is empty', p_producer, p_first, p_last;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('cc_consume:' || current_schema() || ':'
                                           || p_producer));
    pos := cc_position(p_producer);
    IF p_first > pos + 1 THEN
        RAISE EXCEPTION 'cc_skip: % event % is after the position %', p_producer, p_first, pos
            USING ERRCODE = 'CC001', HINT = 'an earlier event of this log was not applied';
    END IF;
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_last_id, p_last)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END $$;
