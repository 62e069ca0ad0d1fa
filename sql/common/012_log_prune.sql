-- Log growth: events every reader has passed, and inbox rows below a
-- log's position, are deleted on a schedule (docs/ARCHITECTURE.md, "Log
-- growth"). Both tables grew by a row per event for ever.
--
-- log_readers holds where each reader of this daemon's log stands, as the
-- producer learned it from the reader's Fetch (after_seq), persisted here so
-- that a reader that has not fetched since a restart (of either side) still
-- holds its events back. An event may go once every reader named in
-- p_clients (the log's --log-clients) is past it; a listed reader that never
-- reported holds back everything. Nothing younger than p_keep_s seconds
-- goes, and the newest event never does: cc_append() numbers after
-- max(seq), so the head is what keeps the numbering from restarting.
--
-- inbox: since 006 a log's position is max(seq) of its rows and cc_consume()
-- answers false for anything at or below it without looking at the rest,
-- so every row below the position is history only. The newest row of each
-- log stays (it is the position).
--
-- At most p_limit rows per table per call, contiguous from the oldest, so
-- one call holds few locks for little time; r_more says to call again soon.
--
-- SECURITY DEFINER, the one exception to 008's rule: the runtime role has no
-- DELETE on any table (docs/SECURITY.md), and this function is the only way
-- it can remove a row: rows below every reader's position and older than
-- the retention, never the newest. search_path is pinned to the schema.

CREATE TABLE log_readers (
    reader      text        PRIMARY KEY,
    seq         bigint      NOT NULL CHECK (seq >= 0),
    reported_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION cc_log_prune(p_readers text[], p_seqs bigint[], p_clients text[],
                             p_logs text[], p_keep_s integer, p_limit integer,
                             p_upto bigint,
                             OUT r_floor bigint, OUT r_events bigint, OUT r_inbox bigint,
                             OUT r_more boolean)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    cut timestamptz := now() - make_interval(secs => greatest(p_keep_s, 0));
    lim integer := greatest(p_limit, 1);
    head bigint;
    lo bigint;
    upto bigint;
    young bigint;
    pos bigint;
    n bigint;
    l text;
BEGIN
    r_events := 0;
    r_inbox := 0;
    r_more := false;
    SELECT coalesce(max(seq), 0), coalesce(min(seq), 0) INTO head, lo FROM events;
    -- A reader cannot have passed our head: clamp what it claims.
    INSERT INTO log_readers AS r (reader, seq)
    SELECT u.reader, least(greatest(min(u.seq), 0), head)
      FROM unnest(p_readers, p_seqs) AS u (reader, seq)
     WHERE u.reader = ANY (p_clients) AND u.seq IS NOT NULL
     GROUP BY u.reader
    ON CONFLICT (reader) DO UPDATE SET seq = excluded.seq, reported_at = now();
    -- Every listed reader must have reported; nobody listed: nobody to wait for.
    SELECT CASE WHEN count(*) = count(r.reader) THEN coalesce(min(r.seq), head) END
      INTO r_floor
      FROM (SELECT DISTINCT c FROM unnest(p_clients) AS c) AS k
      LEFT JOIN log_readers r ON r.reader = k.c;
    -- least() skips NULLs: a floor not known (a reader never reported)
    -- must stop the pruning, not be ignored.
    IF r_floor IS NOT NULL AND p_upto IS NOT NULL THEN
        upto := least(r_floor, head - 1, p_upto, lo + lim - 1);
    END IF;
    IF upto IS NOT NULL AND lo > 0 AND upto >= lo THEN
        -- Contiguous from the oldest: stop before the first event still young.
        SELECT min(seq) INTO young FROM events WHERE seq BETWEEN lo AND upto AND time >= cut;
        IF young IS NOT NULL THEN
            upto := young - 1;
        END IF;
        IF upto >= lo THEN
            DELETE FROM events WHERE seq BETWEEN lo AND upto;
            GET DIAGNOSTICS n = ROW_COUNT;
            r_events := n;
            r_more := young IS NULL AND upto = lo + lim - 1;
        END IF;
    END IF;
    FOREACH l IN ARRAY coalesce(p_logs, '{}') LOOP
        SELECT max(seq) INTO pos FROM inbox WHERE producer = l;
        CONTINUE WHEN pos IS NULL;
        DELETE FROM inbox i
         USING (SELECT event_id FROM inbox
                 WHERE producer = l AND seq < pos AND applied_at < cut
                 ORDER BY seq LIMIT lim) AS d
         WHERE i.producer = l AND i.event_id = d.event_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        r_inbox := r_inbox + n;
        r_more := r_more OR n = lim;
    END LOOP;
END $$;

DO $$
DECLARE
    rt text := current_schema() || '_rt';
BEGIN
    EXECUTE format('ALTER FUNCTION cc_log_prune SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('REVOKE EXECUTE ON FUNCTION cc_log_prune FROM PUBLIC');
    EXECUTE format('GRANT EXECUTE ON FUNCTION cc_log_prune TO %I', rt);
    EXECUTE format('GRANT SELECT ON log_readers TO %I', rt);
END $$;
