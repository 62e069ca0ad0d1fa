-- cc_append() numbers and inserts the event in one statement.
--
-- The INSERT ... SELECT max(seq) + 1 runs after the advisory lock is
-- granted (the statement before), so under READ COMMITTED its snapshot sees
-- the previous holder's commit, as the separate SELECT did: still gapless and
-- in commit order. One executor start per event instead of two.
CREATE OR REPLACE FUNCTION cc_append(p_type text, p_id uuid, p_key text, p_district integer,
                                     p_payload bytea) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cc_append:' || current_schema()));
    INSERT INTO events (seq, id, type, key, district_id, payload)
    SELECT coalesce(max(e.seq), 0) + 1, p_id, p_type, p_key, coalesce(p_district, 0), p_payload
      FROM events e
    RETURNING seq INTO s;
    PERFORM pg_notify(current_schema() || '_events', '');
    RETURN s;
END $$;
