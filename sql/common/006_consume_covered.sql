-- cc_consume() answers false for every event at or below the position.
--
-- Since 004 a run of ignored events leaves an inbox row for its last event
-- only, so the inbox no longer proves that an event inside a run was seen:
-- cc_consume() for it inserted a row and answered true, and the effect would
-- have been applied late. Everything at or below the position has been
-- applied or skipped (the in-order rule lets the position move one event or
-- one run at a time), so such an event is answered false without a row.
CREATE OR REPLACE FUNCTION cc_consume(p_producer text, p_seq bigint, p_event_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cc_consume:' || current_schema() || ':'
                                           || p_producer));
    pos := cc_position(p_producer);
    IF p_seq <= pos THEN
        RETURN false;
    END IF;
    IF p_seq > pos + 1 THEN
        RAISE EXCEPTION 'cc_consume: % event % is after the position %', p_producer, p_seq, pos
            USING ERRCODE = 'CC001', HINT = 'an earlier event of this log was not applied';
    END IF;
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_event_id, p_seq)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END $$;
