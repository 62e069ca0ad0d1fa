-- cc_consume() refuses to move a position past an event that was not applied.
--
-- cc_db re-runs a failed batch one statement per transaction, so when the
-- effect of event N fails, the effect of N+1 used to commit on its own and
-- move the stored position to N+1 (greatest()). The consumer retried N from
-- memory, but after a restart (the crash-only rule restarts a daemon on any
-- SQL error) it resumed after N+1 and N was skipped for good. Now an event
-- can only be consumed right after the stored position (or again, as a
-- no-op): N+1 fails too, and N is retried until it applies or someone fixes
-- it. A poison event stops its log visibly instead of vanishing.
CREATE OR REPLACE FUNCTION cc_consume(p_producer text, p_seq bigint, p_event_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    n integer;
BEGIN
    -- The row lock orders concurrent consumers of the same log.
    SELECT seq INTO pos FROM positions WHERE producer = p_producer FOR UPDATE;
    IF p_seq > coalesce(pos, 0) + 1 THEN
        RAISE EXCEPTION 'cc_consume: % event % is after the position %',
            p_producer, p_seq, coalesce(pos, 0)
            USING ERRCODE = 'CC001',
                  HINT = 'an earlier event of this log was not applied';
    END IF;
    INSERT INTO positions (producer, seq) VALUES (p_producer, p_seq)
    ON CONFLICT (producer) DO UPDATE SET seq = greatest(positions.seq, excluded.seq);
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_event_id, p_seq)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END $$;
