-- Keep the per-event path free of single-row UPDATEs.
--
-- cc_append() bumped log_head and cc_consume() upserted positions once per
-- event. Updating one row N times in a transaction leaves a chain of N row
-- versions that every later update must walk, so a batch of N events cost
-- O(N^2): 2,000 events took about half a second. Now:
-- - cc_append() serialises writers with a transaction-scoped advisory lock
--   (held to commit, as the row lock was) and numbers after max(seq), read
--   from the primary key after the lock is granted. READ COMMITTED gives that
--   statement a fresh snapshot, so it sees the previous holder's commit:
--   still gapless and in commit order with concurrent writers.
-- - the position of a log is the highest seq in inbox (an index), and the
--   in-order rule of 002 is kept under an advisory lock per producer.
-- Never delete a log's newest event: numbering continues from it.

CREATE OR REPLACE FUNCTION cc_append(p_type text, p_id uuid, p_key text, p_district integer,
                                     p_payload bytea) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cc_append:' || current_schema()));
    SELECT coalesce(max(seq), 0) + 1 INTO s FROM events;
    INSERT INTO events (seq, id, type, key, district_id, payload)
    VALUES (s, p_id, p_type, p_key, coalesce(p_district, 0), p_payload);
    PERFORM pg_notify(current_schema() || '_events', '');
    RETURN s;
END $$;

CREATE INDEX inbox_position ON inbox (producer, seq);

CREATE OR REPLACE FUNCTION cc_position(p_producer text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT max(seq) FROM inbox WHERE producer = p_producer), 0)
$$;

CREATE OR REPLACE FUNCTION cc_consume(p_producer text, p_seq bigint, p_event_id uuid)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    n integer;
BEGIN
    -- Orders concurrent consumers of the same log, as the row lock did.
    PERFORM pg_advisory_xact_lock(hashtext('cc_consume:' || current_schema() || ':'
                                           || p_producer));
    pos := cc_position(p_producer);
    IF p_seq > pos + 1 THEN
        RAISE EXCEPTION 'cc_consume: % event % is after the position %', p_producer, p_seq, pos
            USING ERRCODE = 'CC001', HINT = 'an earlier event of this log was not applied';
    END IF;
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_event_id, p_seq)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END $$;

-- The stored positions, for operators and tests, now derived from inbox.
DROP TABLE positions;
CREATE VIEW positions AS SELECT producer, max(seq) AS seq FROM inbox GROUP BY producer;

-- log_head is no longer written; the head is max(seq) of events.
DROP TABLE log_head;
