-- cc_consume() and cc_skip() read the position with their own query.
--
-- cc_position() is an SQL function with a sub-select, which the planner
-- cannot inline into a PL/pgSQL assignment, so each call ran as a separate
-- SQL function: about a fifth of dispatchd's dd_on_order_released in
-- callgrind instruction counts. Same rules as 004 and 006.
CREATE OR REPLACE FUNCTION cc_consume(p_producer text, p_seq bigint, p_event_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cc_consume:' || current_schema() || ':'
                                           || p_producer));
    SELECT coalesce(max(i.seq), 0) INTO pos FROM inbox i WHERE i.producer = p_producer;
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

CREATE OR REPLACE FUNCTION cc_skip(p_producer text, p_first bigint, p_last bigint,
                                   p_last_id uuid)
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
    SELECT coalesce(max(i.seq), 0) INTO pos FROM inbox i WHERE i.producer = p_producer;
    IF p_first > pos + 1 THEN
        RAISE EXCEPTION 'cc_skip: % event % is after the position %', p_producer, p_first, pos
            USING ERRCODE = 'CC001', HINT = 'an earlier event of this log was not applied';
    END IF;
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_last_id, p_last)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END $$;
