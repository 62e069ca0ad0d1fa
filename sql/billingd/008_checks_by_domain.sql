-- billingd's one-column value lists become domains, as orderd/007 and 027
-- did for orders (issue 10: CPU per order end to end, docs/BENCHMARKS.md
-- "Issue 10"). PostgreSQL reads a table's CHECKs from their stored node text
-- (stringToNode) and prepares them in every statement that inserts into or
-- updates the table; a domain's constraint is prepared once per backend and
-- kept in the type cache, and is checked only where a value is assigned to
-- the column. Every bd_order_placed updates two accounts and inserts a hold
-- and a transfer, so it re-read accounts' three CHECKs twice (the value list
-- of kind is the longest text of them), holds' three and transfers' one:
-- ExecConstraints was 608k of its 2.44M instructions (callgrind,
-- bench/sqlcg_apply.py).
--
-- Same values allowed, NULL refused as before (the columns stay NOT NULL),
-- the same SQLSTATE (23514, check_violation) for any other value; the
-- columns still read as text. An UPDATE of accounts.balance no longer
-- re-checks kind, which it does not change (a stored kind was checked when
-- it was written). The multi-column CHECKs stay as they are: balance_sign,
-- the card accounts' card_id rule, holds' amounts.
--
-- As in common/011: the domains are made bare, the columns change to them
-- (binary coercible: no rewrite), the CHECKs they replace are dropped, and
-- only then do the domains get their constraints, checked against the
-- stored rows.
CREATE DOMAIN bd_account_kind_t AS text;
CREATE DOMAIN bd_hold_state AS text;
CREATE DOMAIN bd_transfer_kind AS text;

DO $$
DECLARE
    r record;
    c record;
BEGIN
    FOR r IN SELECT * FROM (VALUES ('accounts', 'kind', 'bd_account_kind_t'),
                                   ('holds', 'state', 'bd_hold_state'),
                                   ('transfers', 'kind', 'bd_transfer_kind')) AS t (tbl, col, dom)
    LOOP
        -- The one-column CHECK the domain replaces (multi-column ones stay).
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

ALTER DOMAIN bd_account_kind_t ADD CONSTRAINT bd_account_kind_t_check
    CHECK (VALUE IN ('card_available', 'card_held', 'card_arrears', 'subsidy_fund',
                     'provider_payable', 'source_family', 'source_subsidy', 'source_allowance'));
ALTER DOMAIN bd_hold_state ADD CONSTRAINT bd_hold_state_check
    CHECK (VALUE IN ('held', 'captured', 'released', 'denied'));
ALTER DOMAIN bd_transfer_kind ADD CONSTRAINT bd_transfer_kind_check
    CHECK (VALUE IN ('topup', 'hold', 'capture', 'release'));

-- bd_post moves every account of a transfer with one UPDATE instead of one
-- per posting: each UPDATE of accounts prepares its remaining CHECKs
-- (balance_sign, the card_id rule) and starts an executor again, twice per
-- hold and three or four times per capture. Same effect: each account's
-- balance moves by the sum of its amounts, zero sums touch nothing, a card
-- account that is missing is an error, any other is opened on first use
-- (the rare path, taken only when the UPDATE found fewer rows than the
-- transfer names accounts). The rows are locked in the index's order, not
-- the array's. PostgreSQL would plan this UPDATE afresh on every call (a
-- custom plan: with the arrays' values known it costs less than the generic
-- one, as the join with unnest() did in 004), and planning it cost more
-- than the second UPDATE it saves; plan_cache_mode = force_generic_plan,
-- for bd_post's statements only, keeps one plan per session.
CREATE OR REPLACE FUNCTION bd_post(p_transfer uuid, p_kind text, p_card uuid, p_order uuid,
                                   p_topup uuid, p_accounts text[], p_amounts bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    r record;
BEGIN
    IF coalesce(array_length(p_accounts, 1), 0) <> coalesce(array_length(p_amounts, 1), 0) THEN
        RAISE EXCEPTION 'bd_post %: % accounts but % amounts', p_transfer,
            array_length(p_accounts, 1), array_length(p_amounts, 1);
    END IF;
    UPDATE accounts AS ac
       SET balance = ac.balance + (SELECT sum(u.m) FROM unnest(p_accounts, p_amounts) AS u (a, m)
                                    WHERE u.a = ac.account)
     WHERE ac.account = ANY (p_accounts)
       AND (SELECT sum(u.m) FROM unnest(p_accounts, p_amounts) AS u (a, m)
             WHERE u.a = ac.account) <> 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> coalesce(cardinality(p_accounts), 0) THEN
        -- Zero amounts, an account named twice, or one not opened yet.
        FOR r IN SELECT u.a, sum(u.m) AS m FROM unnest(p_accounts, p_amounts) AS u (a, m)
                  GROUP BY u.a
                 HAVING sum(u.m) <> 0
                    AND NOT EXISTS (SELECT FROM accounts ac WHERE ac.account = u.a)
                  ORDER BY u.a
        LOOP
            IF r.a LIKE 'card:%' THEN
                RAISE EXCEPTION 'bd_post %: no account %', p_transfer, r.a;
            END IF;
            -- First use. ON CONFLICT: another transaction opened it meanwhile
            -- (a name bd_account_kind() does not know fails on kind NOT NULL).
            INSERT INTO accounts AS a (account, kind, balance)
            VALUES (r.a, bd_account_kind(r.a), r.m)
            ON CONFLICT (account) DO UPDATE SET balance = a.balance + excluded.balance;
        END LOOP;
    END IF;
    WITH t AS (INSERT INTO transfers (transfer_id, kind, card_id, order_id, topup_id)
               VALUES (p_transfer, p_kind, p_card, p_order, p_topup)
               RETURNING transfer_id)
    INSERT INTO postings (transfer_id, account, amount)
    SELECT t.transfer_id, u.a, u.m
      FROM t, unnest(p_accounts, p_amounts) AS u (a, m)
     WHERE u.m <> 0;
END $$;

ALTER FUNCTION bd_post(uuid, text, uuid, uuid, uuid, text[], bigint[])
    SET plan_cache_mode = force_generic_plan;
