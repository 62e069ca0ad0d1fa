-- meald_rt, the role meald logs in as (common/008_runtime_role.sql): what
-- meald's statements need (services/meald/md_store.c and the md_* functions
-- it calls, which run with its privileges), nothing more. No DELETE: meald
-- deletes nothing.
GRANT SELECT, INSERT ON meal_points, meal_slots TO meald_rt;
GRANT SELECT, INSERT, UPDATE ON meals, slot_counts TO meald_rt;
GRANT EXECUTE ON FUNCTION
    us_ts, ts_us, md_create_point, md_schedule, md_refuse, md_cancel, md_deliver
    TO meald_rt;
