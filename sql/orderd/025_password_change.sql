-- Password changes (services/orderd/od_auth.c; docs/SECURITY.md "Tokens and
-- passwords"): an account holder changes their own password (the current
-- one verified), an admin or provider_admin resets one it manages. Either
-- way the account's gen is raised, as od_account_change does, so every
-- token issued before (access and refresh, the changer's own too) is void.
ALTER TABLE accounts ADD COLUMN password_changed_at timestamptz;

-- Store p_hash and raise gen to p_gen: refresh tokens revoked, AccountChanged
-- (p_payload, packed by orderd) appended. outcome: changed, unchanged (gen
-- already there: a retry), unknown.
CREATE FUNCTION od_account_password(p_id uuid, p_hash text, p_gen bigint,
                                    p_event_id uuid, p_payload bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET password_hash = p_hash, gen = p_gen, password_changed_at = now(),
                        updated_at = now()
     WHERE id = p_id AND gen < p_gen;
    IF NOT FOUND THEN
        RETURN QUERY SELECT CASE WHEN EXISTS (SELECT 1 FROM accounts WHERE id = p_id)
                                 THEN 'unchanged' ELSE 'unknown' END;
        RETURN;
    END IF;
    UPDATE refresh_tokens SET revoked = true WHERE account_id = p_id AND NOT revoked;
    PERFORM cc_append('AccountChanged', p_event_id, p_id::text, 0, p_payload);
    RETURN QUERY SELECT 'changed'::text;
END $$;

GRANT EXECUTE ON FUNCTION od_account_password TO orderd_rt;
