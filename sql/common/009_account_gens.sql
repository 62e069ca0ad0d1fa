-- account_gens: what this daemon knows of accounts whose tokens changed
-- (services/common/cc_revoke.h, docs/SECURITY.md "Tokens and passwords").
-- orderd appends AccountChanged{account_id, gen, disabled} when an account
-- is disabled or its gen is raised; every consumer of orderd's log applies
-- it here with cc_account_changed, and loads the table at start into the
-- in-memory table its route guard asks (cc_revoke_ok). Gens only rise: an
-- older event never lowers a row. No usernames, roles or scopes here.
CREATE TABLE account_gens (
    account_id uuid PRIMARY KEY,
    gen bigint NOT NULL CHECK (gen >= 0),
    disabled boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION cc_account_changed(p_producer text, p_seq bigint, p_event_id uuid,
                                   p_account uuid, p_gen bigint, p_disabled boolean)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN;
    END IF;
    INSERT INTO account_gens AS g (account_id, gen, disabled)
    VALUES (p_account, p_gen, p_disabled)
    ON CONFLICT (account_id) DO UPDATE
       SET disabled = CASE WHEN excluded.gen > g.gen THEN excluded.disabled
                           ELSE g.disabled OR excluded.disabled END,
           gen = excluded.gen, updated_at = now()
     WHERE excluded.gen >= g.gen;
END $$;

DO $$
DECLARE
    rt text := current_schema() || '_rt';
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON account_gens TO %I', rt);
    EXECUTE format('GRANT EXECUTE ON FUNCTION cc_account_changed TO %I', rt);
END $$;
