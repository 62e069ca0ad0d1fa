-- Accounts of the embedded token issuer (services/orderd/od_auth.c,
-- docs/SECURITY.md "Tokens and passwords"). No self-registration: rows are
-- made by an admin (a provider_admin for its own provider's caregivers) or
-- by the seed file of `make run`.
--
-- accounts        one per person or machine client; the password only as an
--                 Argon2id hash string; gen raised (and AccountChanged
--                 appended) on every change that must void its tokens.
-- refresh_tokens  only the BLAKE2b-256 hash of each token; a family is one
--                 login's chain of rotations; reusing a rotated token
--                 revokes its whole family.
-- login_failures  per username (its SHA-256, so a password typed into the
--                 name field is not kept in clear), failures in the current
--                 window: a lockout that unknown names get too.
CREATE TABLE accounts (
    id uuid PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{2,63}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2%'),
    role text NOT NULL CHECK (role IN ('operator', 'dispatcher', 'caregiver',
        'provider_admin', 'meal_point', 'family', 'auditor', 'admin', 'service')),
    scope jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(scope) = 'object'),
    provider_id uuid,           -- provider_admin's provider, or a caregiver's employer
    gen bigint NOT NULL DEFAULT 0 CHECK (gen >= 0),
    disabled boolean NOT NULL DEFAULT false,
    created_by uuid REFERENCES accounts (id),   -- NULL: from the seed file
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refresh_tokens (
    hash text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    family uuid NOT NULL,
    account_id uuid NOT NULL REFERENCES accounts (id),
    gen bigint NOT NULL,        -- the account's gen when issued
    expires_at timestamptz NOT NULL,
    used_at timestamptz,        -- rotated: a second use is theft
    revoked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

CREATE TABLE login_failures (
    who bytea PRIMARY KEY,      -- sha256 of the lower-cased username as typed
    failures integer NOT NULL,
    first_at timestamptz NOT NULL,   -- start of the current window
    last_at timestamptz NOT NULL
);

CREATE FUNCTION od_who(p_username text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$ SELECT sha256(convert_to(lower(p_username), 'UTF8')) $$;

-- outcome: created, or duplicate (the username is taken).
CREATE FUNCTION od_account_create(p_id uuid, p_username text, p_hash text, p_role text,
                                  p_scope jsonb, p_provider uuid, p_by uuid)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO accounts (id, username, password_hash, role, scope, provider_id, created_by)
    VALUES (p_id, p_username, p_hash, p_role, p_scope, p_provider, p_by)
    ON CONFLICT (username) DO NOTHING;
    RETURN QUERY SELECT CASE WHEN FOUND THEN 'created' ELSE 'duplicate' END;
END $$;

-- Raise an account's gen to p_gen (and disable it): its refresh tokens are
-- revoked and AccountChanged (p_payload, packed by orderd) is appended.
-- outcome: changed, unchanged (gen already there), unknown.
CREATE FUNCTION od_account_change(p_id uuid, p_gen bigint, p_disabled boolean,
                                  p_event_id uuid, p_payload bytea)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET gen = p_gen, disabled = disabled OR p_disabled, updated_at = now()
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

-- A failed login for p_username: count it in the window (p_window_s).
CREATE FUNCTION od_login_failed(p_username text, p_window_s integer)
RETURNS TABLE (failures integer)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    INSERT INTO login_failures AS f (who, failures, first_at, last_at)
    VALUES (od_who(p_username), 1, now(), now())
    ON CONFLICT (who) DO UPDATE
       SET failures = CASE WHEN f.first_at > now() - make_interval(secs => p_window_s)
                           THEN f.failures + 1 ELSE 1 END,
           first_at = CASE WHEN f.first_at > now() - make_interval(secs => p_window_s)
                           THEN f.first_at ELSE now() END,
           last_at = now()
    RETURNING f.failures;
END $$;

-- A good login: clear the failures, store the new refresh token's hash.
CREATE FUNCTION od_login_ok(p_username text, p_account uuid, p_hash text, p_family uuid,
                            p_gen bigint, p_expires_us bigint)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE login_failures SET failures = 0 WHERE who = od_who(p_username) AND failures > 0;
    INSERT INTO refresh_tokens (hash, family, account_id, gen, expires_at)
    VALUES (p_hash, p_family, p_account, p_gen, od_ts(p_expires_us));
    RETURN QUERY SELECT 'ok'::text;
END $$;

-- Rotate a refresh token: mark p_hash used and store p_new_hash in its
-- family. outcome:
--   rotated   ok: the account's current role, scope and gen come back
--   unknown   no such token
--   replayed  the token was rotated already: theft; its family is revoked
--   revoked   the family was revoked (logout, replay, account change)
--   expired   past expires_at
CREATE FUNCTION od_refresh_rotate(p_hash text, p_new_hash text, p_expires_us bigint)
RETURNS TABLE (outcome text, account_id uuid, role text, scope text, gen bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t refresh_tokens%ROWTYPE;
    a accounts%ROWTYPE;
BEGIN
    SELECT * INTO t FROM refresh_tokens r WHERE r.hash = p_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::uuid, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    IF t.used_at IS NOT NULL THEN
        UPDATE refresh_tokens r SET revoked = true WHERE r.family = t.family AND NOT r.revoked;
        RETURN QUERY SELECT 'replayed'::text, t.account_id, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    IF t.revoked THEN
        RETURN QUERY SELECT 'revoked'::text, t.account_id, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    IF t.expires_at <= now() THEN
        RETURN QUERY SELECT 'expired'::text, t.account_id, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    SELECT * INTO a FROM accounts x WHERE x.id = t.account_id;
    IF a.disabled OR a.gen <> t.gen THEN
        UPDATE refresh_tokens r SET revoked = true WHERE r.family = t.family AND NOT r.revoked;
        RETURN QUERY SELECT 'revoked'::text, t.account_id, NULL::text, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    UPDATE refresh_tokens r SET used_at = now() WHERE r.hash = p_hash;
    INSERT INTO refresh_tokens (hash, family, account_id, gen, expires_at)
    VALUES (p_new_hash, t.family, t.account_id, a.gen, od_ts(p_expires_us));
    RETURN QUERY SELECT 'rotated'::text, a.id, a.role, a.scope::text, a.gen;
END $$;

-- Logout: revoke the family of p_hash if it is p_account's.
-- outcome: revoked, or unknown.
CREATE FUNCTION od_logout(p_hash text, p_account uuid)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    v_family uuid;
BEGIN
    SELECT r.family INTO v_family FROM refresh_tokens r
     WHERE r.hash = p_hash AND r.account_id = p_account;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text;
        RETURN;
    END IF;
    UPDATE refresh_tokens r SET revoked = true WHERE r.family = v_family AND NOT r.revoked;
    RETURN QUERY SELECT 'revoked'::text;
END $$;

-- orderd_rt: what the statements above need. No DELETE: spent refresh
-- tokens and old failure rows stay (a retention job is the owner's work).
GRANT SELECT, INSERT, UPDATE ON accounts, refresh_tokens, login_failures TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_who, od_account_create, od_account_change, od_login_failed,
    od_login_ok, od_refresh_rotate, od_logout TO orderd_rt;
