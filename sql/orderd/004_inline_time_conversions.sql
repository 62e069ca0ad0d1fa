-- od_ts() and od_us() are STABLE, so that the planner inlines them.
--
-- They were declared IMMUTABLE, but their bodies use timestamptz arithmetic,
-- which PostgreSQL marks STABLE (it may depend on the time zone); the planner
-- refuses to inline an IMMUTABLE SQL function whose body is not immutable, so
-- every call went through the SQL-function executor: 9% of orderd's writer
-- backend in a perf profile of the intake benchmark (fmgr_sql), for the two
-- calls per od_order_place. The results do not depend on the time zone
-- (whole microseconds from the epoch); nothing indexes them.
CREATE OR REPLACE FUNCTION od_ts(p_us bigint) RETURNS timestamptz
LANGUAGE sql STABLE STRICT AS $$
    SELECT timestamptz 'epoch' + p_us * interval '1 microsecond'
$$;
CREATE OR REPLACE FUNCTION od_us(p_t timestamptz) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT (extract(epoch FROM p_t) * 1000000)::bigint
$$;
