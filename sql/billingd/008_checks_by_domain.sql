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

