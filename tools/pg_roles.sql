-- pg_roles.sql: the four daemon roles and their schemas, in the current
-- database. Idempotent. Run as a superuser after CREATE DATABASE; used by
-- tools/pg.sh and by the system-test harness.
-- Each role: LOGIN, owns its schema (so it may create there), has no rights
-- on the public schema or on any other daemon's schema, search_path = itself.
SET client_min_messages = warning;
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['orderd', 'billingd', 'dispatchd', 'meald'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', r, r);
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', r, r);
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r, r);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', r);
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', r, r);
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I',
                       current_database(), r);
    END LOOP;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
END $$;
