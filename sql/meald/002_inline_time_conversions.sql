-- us_ts() and ts_us() inline into the statements that call them.
--
-- They were IMMUTABLE SQL functions whose bodies are STABLE (timestamptz +
-- interval and extract(... FROM timestamptz) may depend on the session's
-- time zone), and the planner inlines an SQL function only when its body is
-- no more volatile than declared: every call ran as a separate SQL function.
-- Same bodies as dispatchd's 004: timestamp arithmetic, then AT TIME ZONE
-- 'UTC', all immutable; same results in any session time zone.
CREATE OR REPLACE FUNCTION us_ts(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT (timestamp 'epoch' + p_us * interval '1 microsecond') AT TIME ZONE 'UTC'
$$;
CREATE OR REPLACE FUNCTION ts_us(p_ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM p_ts AT TIME ZONE 'UTC') * 1000000)::bigint
$$;
