-- dispatchd_rt, the role dispatchd logs in as (common/008_runtime_role.sql):
-- what dispatchd's statements need (services/dispatchd/dd_store.c and the
-- dd_* functions it calls, which run with its privileges), nothing more.
-- No DELETE: dispatchd deletes nothing.
GRANT SELECT, INSERT ON caregivers TO dispatchd_rt;
GRANT SELECT, INSERT, UPDATE ON visits TO dispatchd_rt;
GRANT EXECUTE ON FUNCTION
    dd_ts, dd_us, dd_caregiver_create, dd_on_order_released, dd_on_order_released_bump,
    dd_on_order_cancelled, dd_visit_assign, dd_visit_assign_bump, dd_visit_bump,
    dd_visit_decline, dd_visit_accept, dd_visit_check, dd_visit_fail
    TO dispatchd_rt;
