-- orderd_rt, the role orderd logs in as (common/008_runtime_role.sql): what
-- orderd's statements need (services/orderd/od_store.c and the od_*
-- functions it calls, which run with its privileges), nothing more. No
-- DELETE anywhere: orderd deletes nothing. order_states is read only (its
-- trigger rebuilds functions and the state domain: the owner's work, in
-- migrations).
GRANT SELECT, INSERT ON elders TO orderd_rt;
GRANT SELECT, INSERT, UPDATE ON cards, orders TO orderd_rt;
GRANT SELECT, INSERT ON order_history TO orderd_rt;
GRANT USAGE ON SEQUENCE order_history_id_seq TO orderd_rt;
GRANT SELECT ON order_states TO orderd_rt;
GRANT EXECUTE ON FUNCTION
    od_ts, od_us, od_state_final, od_state_cancellable, od_state_of,
    od_elder_create, od_card_issue, od_card_set_status, od_order_place, od_order_cancel,
    od_step, od_after_move, od_on_funds_held, od_on_funds_denied, od_on_hold, od_on_visit,
    od_on_meal
    TO orderd_rt;
