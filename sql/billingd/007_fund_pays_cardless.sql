-- Orders without a card (issue 13: alarms for elders with no love card,
-- mandated visits for them). OrderPlaced.card_id is then "". billingd lets
-- the fund pay the whole price of an emergency or a mandated one, and denies
-- any other with reason no_card (services/billingd/bd_ledger.c).
--
-- Such a hold is on no card: holds.card_id is '' (text, as for a denial of
-- an unknown card), held_fen 0 and subsidy_fen the price, so the hold moves
-- no money; its capture posts subsidy_fund -> provider:<id> like the
-- subsidy part of any capture, and its release posts nothing. Its transfers
-- name no card (transfers.card_id NULL). bd_ledger_check() needs no change:
-- the transfers balance, and nothing is put in a held account for them.
--
-- The two functions are those of 002 (bd_order_placed) and 004
-- (bd_order_closed) with the card id cast through nullif(.., ''): ''::uuid
-- is an SQL error.

CREATE OR REPLACE FUNCTION bd_order_placed(
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
        PERFORM bd_post(p_transfer, 'hold', nullif(p_card, '')::uuid, p_order, NULL,
                        p_accounts, p_amounts);
        IF p_rule IS NOT NULL AND p_subsidy > 0 AND p_card <> '' THEN
            INSERT INTO subsidy_usage (card_id, rule_id, month, used_fen)
            VALUES (p_card::uuid, p_rule, p_month, p_subsidy)
            ON CONFLICT (card_id, rule_id, month)
            DO UPDATE SET used_fen = subsidy_usage.used_fen + excluded.used_fen;
        END IF;
    END IF;
    PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_payload);
    RETURN 'applied';
END $$;

CREATE OR REPLACE FUNCTION bd_order_closed(
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
    UPDATE holds SET state = p_state, reason = p_reason, provider_id = p_provider,
                     updated_at = now()
     WHERE order_id = p_order AND state = 'held'
    RETURNING * INTO h;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM holds WHERE order_id = p_order) THEN
            RETURN 'not_held';
        END IF;
        RETURN 'unknown_order';
    END IF;
    IF h.held_fen <> p_held THEN
        RAISE EXCEPTION 'hold %: store holds % fen, daemon %', p_order, h.held_fen, p_held;
    END IF;
    PERFORM bd_post(p_transfer, CASE p_state WHEN 'captured' THEN 'capture' ELSE 'release' END,
                    nullif(h.card_id, '')::uuid, p_order, NULL, p_accounts, p_amounts);
    IF p_state = 'released' AND h.rule_id IS NOT NULL AND h.subsidy_fen > 0
       AND h.card_id <> '' THEN
        UPDATE subsidy_usage SET used_fen = used_fen - h.subsidy_fen
         WHERE card_id = h.card_id::uuid AND rule_id = h.rule_id AND month = h.month;
    END IF;
    PERFORM cc_append(p_out_type, p_out_id, p_order::text, p_district, p_payload);
    RETURN 'applied';
END $$;
