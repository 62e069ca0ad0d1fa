-- Password changes (services/orderd/od_auth.c; docs/SECURITY.md "Tokens and
-- passwords"): an account holder changes their own password (the current
-- one verified), an admin or provider_admin resets one it manages. Either
-- way the account's gen is raised, as od_account_change does, so every
-- token issued before (access and refresh, the changer's own too) is void.
ALTER TABLE accounts ADD COLUMN password_changed_at timestamptz;

-- Raise gen to p_gen as od_account_change does (refresh tokens revoked,
-- AccountChanged p_payload appended) and, if it did, store p_hash.
-- outcome: changed, unchanged (gen already there: a retry), unknown.
CREATE FUNCTION od_account_password(p_id uuid, p_hash text, p_gen bigint,
                                    p_event_id uuid, p_payload bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    SELECT c.outcome INTO v FROM od_account_change(p_id, p_gen, false, p_event_id, p_payload) c;
    IF v = 'changed' THEN
        UPDATE accounts SET password_hash = p_hash, password_changed_at = now()
         WHERE id = p_id;
    END IF;
    RETURN QUERY SELECT v;
END $$;

GRANT EXECUTE ON FUNCTION od_account_password TO orderd_rt;
