-- billingd: one SQL function per write. The daemon decides in C against its
-- in-memory balances and passes the postings it decided; these functions
-- apply them atomically, append the resulting event, and answer with a status
-- row. Expected outcomes (replays, conflicts) are statuses, never errors; an
-- error means memory and store disagree and the daemon restarts (crash-only).

CREATE FUNCTION bd_account_kind(p_account text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_account LIKE 'card:%:available' THEN 'card_available'
        WHEN p_account LIKE 'card:%:held'      THEN 'card_held'
        WHEN p_account LIKE 'card:%:arrears'   THEN 'card_arrears'
        WHEN p_account = 'subsidy_fund'        THEN 'subsidy_fund'
        WHEN p_account LIKE 'provider:%'       THEN 'provider_payable'
        WHEN p_account = 'source:family'       THEN 'source_family'
        WHEN p_account = 'source:subsidy'      THEN 'source_subsidy'
        WHEN p_account = 'source:allowance'    THEN 'source_allowance'
    END
$$;

-- Write one transfer: its postings (zero amounts skipped) in one statement and
-- the account balances. Balanced by construction (checked here, and again by
-- the deferred postings_balanced trigger at commit). Card accounts must exist
-- (opened on CardIssued); provider accounts are opened on first use.
CREATE FUNCTION bd_post(p_transfer uuid, p_kind text, p_card uuid, p_order uuid, p_topup uuid,
                        p_accounts text[], p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    s numeric;
    k integer;
    n integer;
BEGIN
    IF coalesce(array_length(p_accounts, 1), 0) <> coalesce(array_length(p_amounts, 1), 0) THEN
        RAISE EXCEPTION 'bd_post %: % accounts but % amounts', p_transfer,
            array_length(p_accounts, 1), array_length(p_amounts, 1);
    END IF;
    SELECT coalesce(sum(m), 0), count(*) FILTER (WHERE m <> 0) INTO s, k
      FROM unnest(p_amounts) AS m;
    IF s <> 0 THEN
        RAISE EXCEPTION 'bd_post %: postings sum to % fen, not 0', p_transfer, s
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO transfers (transfer_id, kind, card_id, order_id, topup_id)
    VALUES (p_transfer, p_kind, p_card, p_order, p_topup);
    INSERT INTO accounts (account, kind)
    SELECT DISTINCT a, bd_account_kind(a) FROM unnest(p_accounts) AS a
     WHERE a NOT LIKE 'card:%'
    ON CONFLICT (account) DO NOTHING;
    INSERT INTO postings (transfer_id, account, amount)
    SELECT p_transfer, u.a, u.m FROM unnest(p_accounts, p_amounts) AS u (a, m) WHERE u.m <> 0;
    UPDATE accounts AS ac SET balance = ac.balance + u.m
      FROM unnest(p_accounts, p_amounts) AS u (a, m)
     WHERE ac.account = u.a AND u.m <> 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> k THEN
        RAISE EXCEPTION 'bd_post %: % postings but % accounts updated', p_transfer, k, n;
    END IF;
END $$;

-- ---- orderd's log ----------------------------------------------------------

CREATE FUNCTION bd_card_issued(p_producer text, p_seq bigint, p_event_id uuid, p_card uuid,
                               p_elder text, p_district integer, p_household text,
                               p_age integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO cards (card_id, elder_id, district_id, household, age_years)
    VALUES (p_card, p_elder, p_district, p_household, p_age)
    ON CONFLICT (card_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'exists';
    END IF;
    INSERT INTO accounts (account, kind, card_id) VALUES
        ('card:' || p_card || ':available', 'card_available', p_card),
        ('card:' || p_card || ':held', 'card_held', p_card),
        ('card:' || p_card || ':arrears', 'card_arrears', p_card);
    RETURN 'applied';
END $$;

CREATE FUNCTION bd_card_status(p_producer text, p_seq bigint, p_event_id uuid, p_card uuid,
                               p_status text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    UPDATE cards SET status = p_status, updated_at = now() WHERE card_id = p_card;
    IF NOT FOUND THEN
        RETURN 'unknown_card';
    END IF;
    RETURN 'applied';
END $$;

-- OrderPlaced: record the decision (held or denied), post the hold, reserve
-- the subsidy against the monthly cap, append FundsHeld / FundsDenied.
CREATE FUNCTION bd_order_placed(
    p_producer text, p_seq bigint, p_event_id uuid,
    p_order uuid, p_card text, p_district integer, p_service text, p_emergency boolean,
    p_state text, p_reason text,
    p_price bigint, p_subsidy bigint, p_held bigint, p_arrears bigint,
    p_rule integer, p_month integer,
    p_transfer uuid, p_accounts text[], p_amounts bigint[],
    p_out_type text, p_out_id uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    INSERT INTO holds (order_id, card_id, district_id, service, emergency, state, reason,
                       price_fen, subsidy_fen, held_fen, arrears_fen, rule_id, month)
    VALUES (p_order, p_card, p_district, p_service, p_emergency, p_state, p_reason,
            p_price, p_subsidy, p_held, p_arrears, p_rule, p_month)
    ON CONFLICT (order_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'exists';
    END IF;
    IF p_state = 'held' THEN
        PERFORM bd_post(p_transfer, 'hold', p_card::uuid, p_order, NULL, p_accounts, p_amounts);
        IF p_rule IS NOT NULL AND p_subsidy > 0 THEN
            INSERT INTO subsidy_usage (card_id, rule_id, month, used_fen)
            VALUES (p_card::uuid, p_rule, p_month, p_subsidy)
            ON CONFLICT (card_id, rule_id, month)
            DO UPDATE SET used_fen = subsidy_usage.used_fen + excluded.used_fen;
        END IF;
    END IF;
    PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_payload);
    RETURN 'applied';
END $$;

-- OrderCompleted (p_state captured) / OrderCancelled, OrderFailed (released):
-- a transition only from held; p_held is the daemon's view of the hold and
-- must equal the store's. Releasing gives the subsidy back to the month's cap.
CREATE FUNCTION bd_order_closed(
    p_producer text, p_seq bigint, p_event_id uuid,
    p_order uuid, p_state text, p_reason text, p_provider text, p_held bigint,
    p_transfer uuid, p_accounts text[], p_amounts bigint[],
    p_out_type text, p_out_id uuid, p_district integer, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    h holds%ROWTYPE;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    SELECT * INTO h FROM holds WHERE order_id = p_order FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'unknown_order';
    END IF;
    IF h.state <> 'held' THEN
        RETURN 'not_held';
    END IF;
    IF h.held_fen <> p_held THEN
        RAISE EXCEPTION 'hold %: store holds % fen, daemon %', p_order, h.held_fen, p_held;
    END IF;
    UPDATE holds SET state = p_state, reason = p_reason, provider_id = p_provider,
                     updated_at = now()
     WHERE order_id = p_order;
    PERFORM bd_post(p_transfer, CASE p_state WHEN 'captured' THEN 'capture' ELSE 'release' END,
                    h.card_id::uuid, p_order, NULL, p_accounts, p_amounts);
    IF p_state = 'released' AND h.rule_id IS NOT NULL AND h.subsidy_fen > 0 THEN
        UPDATE subsidy_usage SET used_fen = used_fen - h.subsidy_fen
         WHERE card_id = h.card_id::uuid AND rule_id = h.rule_id AND month = h.month;
    END IF;
    PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_payload);
    RETURN 'applied';
END $$;

-- ---- clerk API -------------------------------------------------------------

-- A top-up, keyed by the client's Idempotency-Key: the same key with the same
-- body answers the first result; with another body, 'conflict'.
CREATE FUNCTION bd_topup(p_key text, p_topup uuid, p_card uuid, p_amount bigint, p_source text,
                         p_reference text, p_arrears_paid bigint, p_available_after bigint,
                         p_transfer uuid, p_accounts text[], p_amounts bigint[])
RETURNS TABLE (r_status text, r_topup_id uuid, r_available_fen bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t topups%ROWTYPE;
BEGIN
    SELECT * INTO t FROM topups WHERE idempotency_key = p_key;
    IF FOUND THEN
        IF t.card_id = p_card AND t.amount_fen = p_amount AND t.source = p_source
           AND t.reference IS NOT DISTINCT FROM p_reference THEN
            RETURN QUERY SELECT 'replay'::text, t.topup_id, t.available_after_fen;
        ELSE
            RETURN QUERY SELECT 'conflict'::text, t.topup_id, NULL::bigint;
        END IF;
        RETURN;
    END IF;
    INSERT INTO topups (idempotency_key, topup_id, card_id, amount_fen, source, reference,
                        arrears_paid_fen, available_after_fen)
    VALUES (p_key, p_topup, p_card, p_amount, p_source, p_reference, p_arrears_paid,
            p_available_after);
    PERFORM bd_post(p_transfer, 'topup', p_card, NULL, p_topup, p_accounts, p_amounts);
    RETURN QUERY SELECT 'applied'::text, p_topup, p_available_after;
END $$;

CREATE FUNCTION bd_set_price(p_service text, p_price bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE prices SET price_fen = p_price, updated_at = now() WHERE service = p_service;
    IF NOT FOUND THEN
        RETURN 'unknown_service';
    END IF;
    RETURN 'applied';
END $$;

-- ---- reads -----------------------------------------------------------------

-- Statement lines of a card, newest first, with the card's balances after each.
CREATE FUNCTION bd_statement(p_card uuid, p_limit integer)
RETURNS TABLE (transfer_id uuid, kind text, time_us bigint, order_id uuid, topup_id uuid,
               available_fen bigint, held_fen bigint, arrears_fen bigint,
               available_after bigint, held_after bigint, arrears_after bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.transfer_id, x.kind, x.time_us, x.order_id, x.topup_id, x.av, x.he, x.ar,
           x.av_after, x.he_after, x.ar_after
      FROM (SELECT t.transfer_id, t.kind, t.seq,
                   (extract(epoch FROM t.time) * 1000000)::bigint AS time_us,
                   t.order_id, t.topup_id, d.av, d.he, d.ar,
                   (sum(d.av) OVER w)::bigint AS av_after,
                   (sum(d.he) OVER w)::bigint AS he_after,
                   (sum(d.ar) OVER w)::bigint AS ar_after
              FROM transfers t
             CROSS JOIN LATERAL (
                   SELECT coalesce(sum(p.amount) FILTER (
                              WHERE p.account = 'card:' || p_card || ':available'), 0)::bigint AS av,
                          coalesce(sum(p.amount) FILTER (
                              WHERE p.account = 'card:' || p_card || ':held'), 0)::bigint AS he,
                          coalesce(sum(p.amount) FILTER (
                              WHERE p.account = 'card:' || p_card || ':arrears'), 0)::bigint AS ar
                     FROM postings p WHERE p.transfer_id = t.transfer_id) AS d
             WHERE t.card_id = p_card
            WINDOW w AS (ORDER BY t.seq)) AS x
     ORDER BY x.seq DESC
     LIMIT p_limit
$$;

-- Every ledger invariant, recomputed from the stored postings (not from the
-- balances column): unbalanced transfers, balances of the wrong sign, stored
-- balances that differ from their postings, open holds that differ from the
-- card's held account.
CREATE FUNCTION bd_ledger_check(OUT r_transfers bigint, OUT r_unbalanced jsonb,
                                OUT r_negative jsonb, OUT r_stale jsonb, OUT r_holds jsonb)
LANGUAGE sql STABLE AS $$
    WITH sums AS (SELECT account, sum(amount) AS s FROM postings GROUP BY account),
         acc AS (SELECT a.account, a.kind, a.card_id, a.balance, coalesce(s.s, 0) AS p
                   FROM accounts a LEFT JOIN sums s USING (account)),
         open AS (SELECT card_id, sum(held_fen) AS s FROM holds WHERE state = 'held'
                   GROUP BY card_id)
    SELECT
        (SELECT count(*) FROM transfers),
        coalesce((SELECT jsonb_agg(jsonb_build_object('transfer_id', u.transfer_id,
                                                      'sum_fen', u.s))
                    FROM (SELECT transfer_id, sum(amount) AS s FROM postings
                           GROUP BY transfer_id HAVING sum(amount) <> 0 LIMIT 100) u),
                 '[]'::jsonb),
        coalesce((SELECT jsonb_agg(jsonb_build_object('account', account, 'kind', kind,
                                                      'balance_fen', p))
                    FROM acc
                   WHERE (kind IN ('card_available', 'card_held', 'provider_payable') AND p < 0)
                      OR (kind = 'card_arrears' AND p > 0)),
                 '[]'::jsonb),
        coalesce((SELECT jsonb_agg(jsonb_build_object('account', account, 'stored_fen', balance,
                                                      'postings_fen', p))
                    FROM acc WHERE balance <> p),
                 '[]'::jsonb),
        coalesce((SELECT jsonb_agg(jsonb_build_object('card_id', acc.card_id,
                                                      'open_holds_fen', coalesce(o.s, 0),
                                                      'held_account_fen', acc.p))
                    FROM acc LEFT JOIN open o ON o.card_id = acc.card_id::text
                   WHERE acc.kind = 'card_held' AND coalesce(o.s, 0) <> acc.p),
                 '[]'::jsonb)
$$;

-- Balances recomputed from postings, for comparing with the daemon's memory.
CREATE FUNCTION bd_balances_from_postings()
RETURNS TABLE (account text, balance bigint)
LANGUAGE sql STABLE AS $$
    SELECT a.account, coalesce(sum(p.amount), 0)::bigint
      FROM accounts a LEFT JOIN postings p USING (account)
     GROUP BY a.account
$$;
