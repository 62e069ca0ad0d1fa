-- billingd_rt, the role billingd logs in as (common/008_runtime_role.sql):
-- what billingd's statements need (services/billingd/bd_store.c and the bd_*
-- functions it calls, which run with its privileges), nothing more.
--
-- The ledger is INSERT-only for it: transfers and postings get SELECT and
-- INSERT, never UPDATE or DELETE (the append-only triggers stay as a second
-- line, for the owner), and it cannot TRUNCATE them or disable a trigger
-- (both need the owner). No DELETE anywhere: billingd deletes nothing.
-- subsidy_rules is read only (changed by migrations or an administrator).
GRANT SELECT ON subsidy_rules TO billingd_rt;
GRANT SELECT, UPDATE ON prices TO billingd_rt;
GRANT SELECT, INSERT, UPDATE ON cards, accounts, holds, subsidy_usage TO billingd_rt;
GRANT SELECT, INSERT ON transfers, postings, topups, deliveries TO billingd_rt;
GRANT USAGE ON SEQUENCE transfers_seq_seq TO billingd_rt;
GRANT EXECUTE ON FUNCTION
    bd_account_kind, bd_post, bd_card_issued, bd_card_status, bd_order_placed,
    bd_order_closed, bd_topup, bd_set_price, bd_statement, bd_ledger_check,
    bd_balances_from_postings, bd_delivered, bd_reconciliation
    TO billingd_rt;
