-- A district's capacity per day for orderd's duty generator (issue 13;
-- services/dispatchd/dd_capacity.h, docs/DUTIES.md "Capacity"): a batch of
-- CapacityReported events appended in one transaction. No table: the
-- figures are computed from the working set; the log carries them.
--
-- p_batch: a JSON array of {district, key ("district:YYYY-MM-DD"), ev
-- (event id), pay (payload, hex)}. Returns how many were appended.
CREATE FUNCTION dd_capacity_report(p_batch text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m jsonb;
    n integer := 0;
BEGIN
    FOR m IN SELECT e.m FROM jsonb_array_elements(p_batch::jsonb) AS e(m) LOOP
        PERFORM cc_append('CapacityReported', (m->>'ev')::uuid, m->>'key',
                          (m->>'district')::integer, decode(m->>'pay', 'hex'));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION dd_capacity_report FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dd_capacity_report TO dispatchd_rt;
