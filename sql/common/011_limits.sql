-- The limits of services/common/cc_limits.h as domains, in every schema, and
-- the columns that take those values from requests and events typed with
-- them (issue 11: one definition of each limit; orderd exited when
-- PostgreSQL refused a window C had let through, and dispatchd's CHECK of
-- 63 bytes on provider_id disagreed with meald's and billingd's 64).
-- cc_limits_test compares every domain, in every daemon schema, with the C
-- values (and the columns with cc_limits.c's list): change both together,
-- in a new migration.
--
-- As in orderd/007: the domains are made bare, the columns change to them
-- (binary coercible: no rewrite), the one-column CHECKs they replace are
-- dropped, and only then do the domains get their constraints, checked
-- against the stored rows. A stored value outside a limit stops the
-- migration, naming the domain: fix the row, then migrate again.
CREATE DOMAIN cc_provider_id AS text;
CREATE DOMAIN cc_name AS text;
CREATE DOMAIN cc_text AS text;
CREATE DOMAIN cc_notes AS text;
CREATE DOMAIN cc_reference AS text;
CREATE DOMAIN cc_idem_key AS text;
CREATE DOMAIN cc_district AS integer;
CREATE DOMAIN cc_lat AS double precision;
CREATE DOMAIN cc_lon AS double precision;
CREATE DOMAIN cc_fen AS bigint;
CREATE DOMAIN cc_time AS timestamptz;

DO $$
DECLARE
    r record;
    c record;
BEGIN
    -- (table, column, domain): the columns of this schema, if it has them.
    FOR r IN SELECT t.tbl, t.col, t.dom
               FROM (VALUES
                 ('caregivers', 'provider_id', 'cc_provider_id'),
                 ('meal_points', 'provider_id', 'cc_provider_id'),
                 ('caregivers', 'name', 'cc_name'),
                 ('meal_points', 'name', 'cc_name'),
                 ('elders', 'diet', 'cc_text'),
                 ('orders', 'reason', 'cc_text'),
                 ('visits', 'fail_reason', 'cc_text'),
                 ('meals', 'diet', 'cc_text'),
                 ('holds', 'reason', 'cc_text'),
                 ('orders', 'notes', 'cc_notes'),
                 ('visits', 'notes', 'cc_notes'),
                 ('topups', 'reference', 'cc_reference'),
                 ('orders', 'idem_key', 'cc_idem_key'),
                 ('caregivers', 'idempotency_key', 'cc_idem_key'),
                 ('meal_points', 'idempotency_key', 'cc_idem_key'),
                 ('topups', 'idempotency_key', 'cc_idem_key'),
                 ('elders', 'district_id', 'cc_district'),
                 ('cards', 'district_id', 'cc_district'),
                 ('orders', 'district_id', 'cc_district'),
                 ('caregivers', 'district_id', 'cc_district'),
                 ('visits', 'district_id', 'cc_district'),
                 ('meal_points', 'district_id', 'cc_district'),
                 ('meals', 'district_id', 'cc_district'),
                 ('holds', 'district_id', 'cc_district'),
                 ('elders', 'lat', 'cc_lat'),
                 ('caregivers', 'lat', 'cc_lat'),
                 ('visits', 'lat', 'cc_lat'),
                 ('visits', 'checkin_lat', 'cc_lat'),
                 ('visits', 'checkout_lat', 'cc_lat'),
                 ('meal_points', 'lat', 'cc_lat'),
                 ('meals', 'lat', 'cc_lat'),
                 ('elders', 'lon', 'cc_lon'),
                 ('caregivers', 'lon', 'cc_lon'),
                 ('visits', 'lon', 'cc_lon'),
                 ('visits', 'checkin_lon', 'cc_lon'),
                 ('visits', 'checkout_lon', 'cc_lon'),
                 ('meal_points', 'lon', 'cc_lon'),
                 ('meals', 'lon', 'cc_lon'),
                 ('orders', 'price_fen', 'cc_fen'),
                 ('orders', 'held_fen', 'cc_fen'),
                 ('orders', 'charged_fen', 'cc_fen'),
                 ('prices', 'price_fen', 'cc_fen'),
                 ('holds', 'price_fen', 'cc_fen'),
                 ('holds', 'subsidy_fen', 'cc_fen'),
                 ('holds', 'held_fen', 'cc_fen'),
                 ('holds', 'arrears_fen', 'cc_fen'),
                 ('orders', 'window_start', 'cc_time'),
                 ('orders', 'window_end', 'cc_time'),
                 ('visits', 'window_start', 'cc_time'),
                 ('visits', 'window_end', 'cc_time'),
                 ('meals', 'window_start', 'cc_time'),
                 ('meals', 'window_end', 'cc_time')) AS t(tbl, col, dom)
              WHERE EXISTS (SELECT FROM information_schema.columns i
                             WHERE i.table_schema = current_schema()
                               AND i.table_name = t.tbl AND i.column_name = t.col)
    LOOP
        -- The one-column CHECKs the domain replaces (multi-column ones stay).
        FOR c IN SELECT k.conname
                   FROM pg_constraint k
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                  WHERE k.conrelid = format('%I.%I', current_schema(), r.tbl)::regclass
                    AND k.contype = 'c' AND cardinality(k.conkey) = 1 AND a.attname = r.col
        LOOP
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.tbl, c.conname);
        END LOOP;
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %I', r.tbl, r.col, r.dom);
    END LOOP;
END $$;

ALTER DOMAIN cc_provider_id ADD CONSTRAINT cc_provider_id_check
    CHECK (length(VALUE) BETWEEN 1 AND 64);
ALTER DOMAIN cc_name ADD CONSTRAINT cc_name_check CHECK (length(VALUE) BETWEEN 1 AND 200);
ALTER DOMAIN cc_text ADD CONSTRAINT cc_text_check CHECK (length(VALUE) BETWEEN 0 AND 200);
ALTER DOMAIN cc_notes ADD CONSTRAINT cc_notes_check CHECK (length(VALUE) BETWEEN 0 AND 1000);
ALTER DOMAIN cc_reference ADD CONSTRAINT cc_reference_check
    CHECK (length(VALUE) BETWEEN 0 AND 128);
ALTER DOMAIN cc_idem_key ADD CONSTRAINT cc_idem_key_check CHECK (length(VALUE) BETWEEN 1 AND 128);
ALTER DOMAIN cc_district ADD CONSTRAINT cc_district_check
    CHECK (VALUE BETWEEN 1 AND 2147483647);
ALTER DOMAIN cc_lat ADD CONSTRAINT cc_lat_check CHECK (VALUE BETWEEN -90 AND 90);
ALTER DOMAIN cc_lon ADD CONSTRAINT cc_lon_check CHECK (VALUE BETWEEN -180 AND 180);
ALTER DOMAIN cc_fen ADD CONSTRAINT cc_fen_check CHECK (VALUE BETWEEN 0 AND 100000000);
-- 2000-01-01T00:00:00+08:00 .. the end of year 9999 plus a day (cc_limits.h).
ALTER DOMAIN cc_time ADD CONSTRAINT cc_time_check
    CHECK (VALUE BETWEEN '2000-01-01 00:00:00+08' AND '10000-01-02 00:00:00+00');
