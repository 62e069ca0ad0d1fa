-- bd_ledger_check() also checks holds order by order.
--
-- It compared, per card, the sum of open holds with the card's held account.
-- Money held for an order billingd has closed (or never opened) hides there
-- as soon as another open hold of the same card is off by the same amount,
-- and a card's held account that agrees in sum says nothing about which
-- order the money is for. Now, per order: the net of the postings to a
-- card's held account by the transfers of that order must be the open
-- hold's held_fen, and 0 when the order has no open hold. Two new lists:
--   r_orphan_holds  money held for an order with no open hold (no holds row,
--                   or one that is captured, released or denied): "hold
--                   without order"
--   r_hold_amounts  an open hold whose held_fen differs from what its
--                   order's transfers put in the held account
-- Lists stop at 100 entries, as the transfer list does. Whether orderd
-- still has the order open is not billingd's to know (it never reads
-- orderd's tables): the cross-daemon reconciliation checks that.

DROP FUNCTION bd_ledger_check();

CREATE FUNCTION bd_ledger_check(OUT r_transfers bigint, OUT r_unbalanced jsonb,
                                OUT r_negative jsonb, OUT r_stale jsonb, OUT r_holds jsonb,
                                OUT r_orphan_holds jsonb, OUT r_hold_amounts jsonb)
LANGUAGE sql STABLE AS $$
    WITH sums AS (SELECT account, sum(amount) AS s FROM postings GROUP BY account),
         acc AS (SELECT a.account, a.kind, a.card_id, a.balance, coalesce(s.s, 0) AS p
                   FROM accounts a LEFT JOIN sums s USING (account)),
         open AS (SELECT card_id, sum(held_fen) AS s FROM holds WHERE state = 'held'
                   GROUP BY card_id),
         -- What each order's transfers put in (and took from) held accounts.
         by_order AS (SELECT t.order_id, a.card_id, sum(p.amount) AS held
                        FROM transfers t
                        JOIN postings p ON p.transfer_id = t.transfer_id
                        JOIN accounts a ON a.account = p.account AND a.kind = 'card_held'
                       WHERE t.order_id IS NOT NULL
                       GROUP BY t.order_id, a.card_id)
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
                 '[]'::jsonb),
        coalesce((SELECT jsonb_agg(x) FROM (
                    SELECT b.order_id, b.card_id, b.held AS held_fen, h.state AS hold_state
                      FROM by_order b LEFT JOIN holds h ON h.order_id = b.order_id
                     WHERE b.held <> 0 AND h.state IS DISTINCT FROM 'held'
                     ORDER BY b.order_id LIMIT 100) x),
                 '[]'::jsonb),
        coalesce((SELECT jsonb_agg(x) FROM (
                    SELECT h.order_id, h.card_id, h.held_fen AS hold_fen,
                           coalesce(sum(b.held), 0) AS held_account_fen
                      FROM holds h LEFT JOIN by_order b ON b.order_id = h.order_id
                     WHERE h.state = 'held'
                     GROUP BY h.order_id, h.card_id, h.held_fen
                    HAVING coalesce(sum(b.held), 0) <> h.held_fen
                     ORDER BY h.order_id LIMIT 100) x),
                 '[]'::jsonb)
$$;

GRANT EXECUTE ON FUNCTION bd_ledger_check TO billingd_rt;
