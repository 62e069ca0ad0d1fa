-- The audit trail (docs/SECURITY.md "Audit trail"): one row per audited
-- HTTP request, written by the runtime (services/common/cc_rt.c), never by
-- a handler. A write leaves a row queued before its handler runs (status
-- NULL: accepted), so it commits in the same batch as the write or an
-- earlier one, and a second row with the reply's status; a read of an
-- elder's personal data leaves one row with the status, committed before
-- the reply leaves. Rows with the same request are one request.
-- Never here: bodies, query strings, names, phones, addresses, ID numbers,
-- tokens. ids holds path captures ("id", "order_id", ...) and elder ids.
-- Append-only for the runtime role: INSERT and SELECT, nothing else.
CREATE TABLE audit (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    request uuid NOT NULL,
    account text,                   -- token sub; NULL on a public route
    role text,
    method text NOT NULL,
    route text NOT NULL,            -- the pattern: /v1/orders/{id}/cancel
    ids jsonb NOT NULL DEFAULT '{}',
    status int,                     -- NULL: accepted, before the handler
    peer text NOT NULL DEFAULT ''
);
-- GET /v1/audit?elder_id= (ids @> ...) and ?account=, newest first.
CREATE INDEX audit_ids ON audit USING gin (ids jsonb_path_ops);
CREATE INDEX audit_account ON audit (account, seq);

DO $$
DECLARE
    rt text := current_schema() || '_rt';
BEGIN
    EXECUTE format('GRANT SELECT, INSERT ON audit TO %I', rt);
    EXECUTE format('GRANT USAGE ON SEQUENCE audit_seq_seq TO %I', rt);
END $$;
