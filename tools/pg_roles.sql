-- pg_roles.sql: the daemons' roles and schemas, in the current database.
-- Idempotent. Run as a superuser after CREATE DATABASE (and after the
-- passwords are set: tools/pg.sh, the system-test harness, compose).
--
-- Per daemon two roles (docs/SECURITY.md, "PostgreSQL"):
--   <daemon>      the OWNER: owns its schema and everything in it, runs the
--                 migrations (tools/migrate.sh). Never used by the daemon.
--   <daemon>_rt   the RUNTIME role the daemon logs in as: USAGE on its schema
--                 and the table/function privileges its statements need,
--                 granted by the migrations (sql/common/008_runtime_role.sql
--                 and each daemon's *_runtime_role.sql). It owns nothing, so
--                 it cannot TRUNCATE, ALTER, DROP or disable triggers.
-- The owner names are those every database made before had (they owned their
-- schemas then as now), so an existing database only gains the _rt roles.
-- No role has rights on the public schema or on another daemon's schema;
-- each one's search_path is its daemon's schema.
SET client_min_messages = warning;
DO $$
DECLARE
    r text;
    rt text;
BEGIN
    FOREACH r IN ARRAY ARRAY['orderd', 'billingd', 'dispatchd', 'meald'] LOOP
        rt := r || '_rt';
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = rt) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', rt);
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                       'NOREPLICATION NOBYPASSRLS', r);
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                       'NOREPLICATION NOBYPASSRLS NOINHERIT', rt);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', r, r);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', rt, r);
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', r, r);
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r, r);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', r);
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', r, r);
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I',
                       current_database(), r);
        -- The runtime role: connect, nothing else here; the migrations grant
        -- it USAGE on the schema and what it needs inside.
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), rt);
    END LOOP;
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
END $$;
