-- The runtime role <schema>_rt (tools/pg_roles.sql creates it): what the
-- daemon logs in as from now on; the schema's owner (the role named like the
-- schema, which runs this file) keeps owning everything and is no longer
-- used by the daemon. This file: the part every daemon schema has (the event
-- log); each daemon's own NNN_runtime_role.sql grants the rest.
--
-- Functions: EXECUTE is no longer PUBLIC's by default, on the functions of
-- this schema nor on those the owner creates later (default privileges): a
-- migration that adds a function the daemon calls grants it to <schema>_rt,
-- as it grants the table privileges a new statement needs. Nothing here is
-- SECURITY DEFINER: every function runs with the caller's privileges, so
-- the runtime role's table privileges are the whole of what it can do.
DO $$
DECLARE
    rt text := current_schema() || '_rt';
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), rt);
    EXECUTE format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', current_schema());
    ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    -- The event log: append (cc_append), read (the log's ROUTER), and the
    -- inbox of what was consumed (cc_consume, cc_skip, cc_position).
    EXECUTE format('GRANT SELECT, INSERT ON events, inbox TO %I', rt);
    EXECUTE format('GRANT EXECUTE ON FUNCTION cc_append, cc_consume, cc_position, cc_skip '
                   'TO %I', rt);
END $$;
