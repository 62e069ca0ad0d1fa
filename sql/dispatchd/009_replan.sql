-- Re-optimisation (issue 12; services/dispatchd/dd_reopt.h): a batch of
-- moves decided by the solver for one district's day, applied in one
-- transaction. Each move re-offers a visit: VisitDeclined (reason
-- 'replanned'; the caregiver is not put on its decline list) when it was
-- offered to someone, then VisitAssigned to its new caregiver and time.
--
-- p_batch: a JSON array of {district, id, order, from (null: was waiting),
-- to, provider, eta, end, travel (us, us, s), ev_d, pay_d (hex; with from),
-- ev_a, pay_a (hex)}. 'applied', or 'conflict' and nothing written when a
-- visit is not as the batch expects (dispatchd's memory and the table
-- disagree: it reloads).
CREATE FUNCTION dd_visits_replan(p_at bigint, p_batch text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p_moves jsonb := p_batch::jsonb;
    m jsonb;
    n integer;
BEGIN
    SELECT count(*) INTO n
      FROM jsonb_array_elements(p_moves) AS e(m)
      JOIN visits v ON v.district_id = (e.m->>'district')::integer
                   AND v.id = (e.m->>'id')::uuid
     WHERE (e.m->>'from' IS NULL AND v.state = 'waiting')
        OR (e.m->>'from' IS NOT NULL AND v.state = 'assigned'
            AND v.caregiver_id = (e.m->>'from')::uuid);
    IF n <> jsonb_array_length(p_moves) THEN
        RETURN 'conflict';
    END IF;
    FOR m IN SELECT e.m FROM jsonb_array_elements(p_moves) AS e(m) LOOP
        IF m->>'from' IS NOT NULL THEN
            PERFORM cc_append('VisitDeclined', (m->>'ev_d')::uuid, m->>'order',
                              (m->>'district')::integer, decode(m->>'pay_d', 'hex'));
        END IF;
        UPDATE visits SET state = 'assigned', caregiver_id = (m->>'to')::uuid,
                          provider_id = m->>'provider', eta = dd_ts((m->>'eta')::bigint),
                          planned_end = dd_ts((m->>'end')::bigint),
                          travel_s = (m->>'travel')::integer, assigned_at = dd_ts(p_at),
                          accepted_at = NULL
         WHERE district_id = (m->>'district')::integer AND id = (m->>'id')::uuid;
        PERFORM cc_append('VisitAssigned', (m->>'ev_a')::uuid, m->>'order',
                          (m->>'district')::integer, decode(m->>'pay_a', 'hex'));
    END LOOP;
    RETURN 'applied';
END $$;

GRANT EXECUTE ON FUNCTION dd_visits_replan TO dispatchd_rt;
