/* md_store: meald's SQL. See md_store.h. */
#include "md_store.h"
#include "cc_revoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_log.h"
#include "cc_util.h"
#include "md_plan.h"

#define W CC_STMT_WRITER
#define R CC_STMT_READER
/* The effect functions' common head: the orderd event being consumed. */
#define S_CONSUMED { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID }, \
                   { "order_id", CC_T_UUID }, { "district", CC_T_INT4 }

cc_stmt_t md_stmts[MD_ST_COUNT + 1] = {
    [MD_ST_LOAD_POINTS] = { "md_load_points", R, NULL, NULL,
        "SELECT id::text, name, provider_id, district_id, lat, lon,"
        "       coalesce(idempotency_key, ''), coalesce(request_hash, ''), hot_limit_min"
        "  FROM meal_points ORDER BY created_at, id", { { NULL, CC_T_NONE } }, NULL },
    [MD_ST_LOAD_SLOTS] = { "md_load_slots", R, NULL, NULL,
        "SELECT meal_point_id::text, slot, capacity, cutoff_min FROM meal_slots",
        { { NULL, CC_T_NONE } }, NULL },
    /* Refused meals have no date of their own: their window's local date. */
    [MD_ST_LOAD_MEALS] = { "md_load_meals", R, NULL, NULL,
        "SELECT order_id::text, status, coalesce(refuse_reason, ''),"
        "       coalesce(meal_point_id::text, ''),"
        "       to_char(coalesce(date, (window_start AT TIME ZONE 'Asia/Shanghai')::date),"
        "               'YYYY-MM-DD'),"
        "       coalesce(slot, ''), district_id, diet, coalesce(lat, 0), coalesce(lon, 0),"
        "       coalesce(ts_us(window_start), 0), coalesce(ts_us(window_end), 0),"
        "       coalesce(ts_us(delivered_at), 0), coalesce(courier_id, ''), address_sealed,"
        "       mode, coalesce(fail_reason, ''), coalesce(ts_us(expired_at), 0)"
        "  FROM meals"
        " WHERE coalesce(date, (window_start AT TIME ZONE 'Asia/Shanghai')::date) >= $1::date"
        "    OR status = 'scheduled'"
        " ORDER BY decided_at, order_id", { { "since", CC_T_DATE } }, NULL },
    /* Plain text, not fn: the slots go as array literals ("{lunch,dinner}"),
     * and cc_type_t has no array types; $n::text keeps them text to the
     * catalogue check, the second cast makes the arrays. */
    [MD_ST_CREATE_POINT] = { "md_create_point", W, NULL, NULL,
        "SELECT outcome, meal_point_id::text FROM md_create_point($1::uuid, $2::text,"
        " $3::text, $4::integer, $5::float8, $6::float8, $7::text::text[],"
        " $8::text::integer[], $9::text::integer[], $10::text, $11::text, $12::integer)",
        { { "id", CC_T_UUID }, { "name", CC_T_TEXT }, { "provider", CC_T_TEXT },
          { "district", CC_T_INT4 }, { "lat", CC_T_FLOAT8 }, { "lon", CC_T_FLOAT8 },
          { "slots", CC_T_TEXT }, { "capacities", CC_T_TEXT }, { "cutoffs", CC_T_TEXT },
          { "idem", CC_T_TEXT }, { "hash", CC_T_TEXT }, { "hot_limit", CC_T_INT4 } }, NULL },
    [MD_ST_SCHEDULE] = { "md_schedule", W, "md_schedule", "outcome", NULL,
        { S_CONSUMED, { "point", CC_T_UUID }, { "date", CC_T_DATE }, { "slot", CC_T_TEXT },
          { "window_start_us", CC_T_INT8 }, { "window_end_us", CC_T_INT8 },
          { "diet", CC_T_TEXT }, { "lat", CC_T_FLOAT8 }, { "lon", CC_T_FLOAT8 },
          { "out_id", CC_T_UUID }, { "payload", CC_T_BYTEA }, { "address", CC_T_BYTEA },
          { "mode", CC_T_TEXT } }, NULL },
    [MD_ST_REFUSE] = { "md_refuse", W, "md_refuse", "outcome", NULL,
        { S_CONSUMED, { "reason", CC_T_TEXT }, { "window_start_us", CC_T_INT8 },
          { "window_end_us", CC_T_INT8 }, { "diet", CC_T_TEXT }, { "lat", CC_T_FLOAT8 },
          { "lon", CC_T_FLOAT8 }, { "out_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [MD_ST_CANCEL] = { "md_cancel", W, "md_cancel", "outcome", NULL,
        { { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID },
          { "order_id", CC_T_UUID } }, NULL },
    [MD_ST_DELIVER] = { "md_deliver", W, "md_deliver",
        "outcome, coalesce(delivered_us, 0), coalesce(courier_id, '')", NULL,
        { { "order_id", CC_T_UUID }, { "courier", CC_T_TEXT }, { "at_us", CC_T_INT8 },
          { "out_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [MD_ST_EXPIRE] = { "md_expire", W, "md_expire", "outcome", NULL,
        { { "order_id", CC_T_UUID }, { "at_us", CC_T_INT8 }, { "out_id", CC_T_UUID },
          { "payload", CC_T_BYTEA } }, NULL },
    [MD_ST_LOAD_DEADLINES] = { "md_load_deadlines", R, NULL, NULL,
        "SELECT slot, deliver_s, overdue_s FROM deadlines", { { NULL, CC_T_NONE } }, NULL },
    [MD_ST_ACCOUNT_CHANGED] = CC_REVOKE_STMT_APPLY,
    [MD_ST_ACCOUNT_GENS] = CC_REVOKE_STMT_LOAD,
    [MD_ST_LOAD_COURIERS] = { "md_load_couriers", R, NULL, NULL,
        "SELECT id::text, meal_point_id::text, provider_id, name, vehicle, speed_kmh, capacity,"
        "       shift_start_min, shift_end_min, coalesce(idempotency_key, ''),"
        "       coalesce(request_hash, '')"
        "  FROM couriers ORDER BY created_at, id", { { NULL, CC_T_NONE } }, NULL },
    [MD_ST_LOAD_PLANS] = { "md_load_plans", R, NULL, NULL,
        "SELECT meal_point_id::text, to_char(date, 'YYYY-MM-DD'), slot, version, plan::text"
        "  FROM round_plans WHERE date >= $1::date", { { "since", CC_T_DATE } }, NULL },
    [MD_ST_CREATE_COURIER] = { "md_create_courier", W, "md_create_courier",
        "outcome, courier_id::text", NULL,
        { { "id", CC_T_UUID }, { "point", CC_T_UUID }, { "provider", CC_T_TEXT },
          { "name", CC_T_TEXT }, { "vehicle", CC_T_TEXT }, { "speed", CC_T_FLOAT8 },
          { "capacity", CC_T_INT4 }, { "shift_start", CC_T_INT4 }, { "shift_end", CC_T_INT4 },
          { "idem", CC_T_TEXT }, { "hash", CC_T_TEXT } }, NULL },
    [MD_ST_STORE_ROUNDS] = { "md_store_rounds", W, "md_store_rounds", "outcome", NULL,
        { { "point", CC_T_UUID }, { "date", CC_T_DATE }, { "slot", CC_T_TEXT },
          { "version", CC_T_INT4 }, { "planned_us", CC_T_INT8 }, { "unserved", CC_T_INT4 },
          { "plan", CC_T_TEXT } }, NULL },
    [MD_ST_FAIL] = { "md_fail", W, "md_fail", "outcome, coalesce(reason, '')", NULL,
        { { "order_id", CC_T_UUID }, { "reason", CC_T_TEXT }, { "at_us", CC_T_INT8 },
          { "out_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [MD_ST_COUNT] = { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
};

int md_store_load_deadlines(md_deadline_rule_t out[MD_NSLOTS], PGresult *res,
                            const char **what)
{
    *what = "result";
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3)
        return -1;
    md_deadline_rule_t d[MD_NSLOTS];
    int seen[MD_NSLOTS] = {0};
    for (int i = 0; i < PQntuples(res); i++) {
        int slot = md_slot_parse(PQgetvalue(res, i, 0));
        if (slot < 0)
            continue;
        d[slot].deliver_s = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        d[slot].overdue_s = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (md_deadline_rule_check(&d[slot], what) != 0)
            return -1;
        seen[slot] = 1;
    }
    for (int slot = 0; slot < MD_NSLOTS; slot++)
        if (!seen[slot]) {
            *what = md_slot_name((md_slot_t)slot);   /* every slot needs its row */
            return -1;
        }
    memcpy(out, d, sizeof d);
    return 0;
}

int md_store_ok(PGresult *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) >= 1;
}

int md_store_failed(cc_rt_t *rt, const char *what, PGresult *res, cc_err_t *err)
{
    if (res && cc_db_res_class(res) == CC_DB_OK)
        return 0;
    cc_rt_write_failed(rt, what, res, 0, err);
    return 1;
}

/* ---- load ---------------------------------------------------------------- */
typedef struct {
    md_app_t *app;
    size_t points, slots, meals, skipped;
} s_load_t;

/* Without its working set meald cannot decide: restart and load again. */
static void s_load_check(const char *what, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        cc_rt_fatal(what, res);
}

static void s_on_points(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_check("md_load_points", res);
    for (int i = 0; i < PQntuples(res); i++) {
        md_point_t p;
        memset(&p, 0, sizeof p);
        snprintf(p.id, sizeof p.id, "%s", PQgetvalue(res, i, 0));
        snprintf(p.name, sizeof p.name, "%s", PQgetvalue(res, i, 1));
        snprintf(p.provider_id, sizeof p.provider_id, "%s", PQgetvalue(res, i, 2));
        p.district_id = (uint32_t)strtoul(PQgetvalue(res, i, 3), NULL, 10);
        p.lat = strtod(PQgetvalue(res, i, 4), NULL);
        p.lon = strtod(PQgetvalue(res, i, 5), NULL);
        snprintf(p.idem_key, sizeof p.idem_key, "%s", PQgetvalue(res, i, 6));
        snprintf(p.req_hash, sizeof p.req_hash, "%s", PQgetvalue(res, i, 7));
        p.hot_limit_min = atoi(PQgetvalue(res, i, 8));
        if (!md_point_add(l->app->state, &p))
            cc_rt_fatal("meal_points_memory", NULL);
        l->points++;
    }
}

static void s_on_slots(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_check("md_load_slots", res);
    for (int i = 0; i < PQntuples(res); i++) {
        md_point_t *p = md_point_find(l->app->state, PQgetvalue(res, i, 0));
        int slot = md_slot_parse(PQgetvalue(res, i, 1));
        if (!p || slot < 0)
            cc_rt_fatal("meal_slots_orphan", NULL);
        p->slots[slot].offered = 1;
        p->slots[slot].capacity = atoi(PQgetvalue(res, i, 2));
        p->slots[slot].cutoff_min = atoi(PQgetvalue(res, i, 3));
        l->slots++;
    }
}

static void s_on_meals(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    md_app_t *app = l->app;
    s_load_check("md_load_meals", res);
    for (int i = 0; i < PQntuples(res); i++) {
        md_meal_t m;
        memset(&m, 0, sizeof m);
        snprintf(m.order_id, sizeof m.order_id, "%s", PQgetvalue(res, i, 0));
        int st = md_status_parse(PQgetvalue(res, i, 1));
        if (st < 0)
            cc_rt_fatal("meals_status", NULL);
        m.status = (md_meal_status_t)st;
        int reason = md_refusal_parse(PQgetvalue(res, i, 2));
        m.reason = reason > 0 ? (md_refusal_t)reason : MD_REFUSE_NONE;
        const char *pid = PQgetvalue(res, i, 3);
        m.point = *pid ? md_point_find(app->state, pid) : NULL;
        if (md_day_parse(PQgetvalue(res, i, 4), &m.day) != 0)
            cc_rt_fatal("meals_date", NULL);
        m.district_id = (uint32_t)strtoul(PQgetvalue(res, i, 6), NULL, 10);
        snprintf(m.diet, sizeof m.diet, "%s", PQgetvalue(res, i, 7));
        m.lat = strtod(PQgetvalue(res, i, 8), NULL);
        m.lon = strtod(PQgetvalue(res, i, 9), NULL);
        m.window_start_us = strtoll(PQgetvalue(res, i, 10), NULL, 10);
        m.window_end_us = strtoll(PQgetvalue(res, i, 11), NULL, 10);
        m.delivered_us = strtoll(PQgetvalue(res, i, 12), NULL, 10);
        snprintf(m.courier_id, sizeof m.courier_id, "%s", PQgetvalue(res, i, 13));
        m.eat_in = strcmp(PQgetvalue(res, i, 15), "eat_in") == 0;
        snprintf(m.fail_reason, sizeof m.fail_reason, "%s", PQgetvalue(res, i, 16));
        m.expired_us = strtoll(PQgetvalue(res, i, 17), NULL, 10);
        int slot = md_slot_parse(PQgetvalue(res, i, 5));
        if (slot >= 0) {
            m.slot = (md_slot_t)slot;
        } else {
            int32_t day;
            md_slot_for_window(m.window_start_us, &m.slot, &day);
        }
        if (m.status != MD_MEAL_REFUSED && !m.point)
            cc_rt_fatal("meals_point", NULL);
        unsigned char *addr = NULL;   /* sealed as orderd sent it; md_meal_load copies */
        if (!PQgetisnull(res, i, 14)) {
            size_t len = 0;
            addr = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 14), &len);
            if (!addr)
                cc_rt_fatal("out_of_memory", NULL);
            m.address_sealed = addr;
            m.address_sealed_len = len;
        }
        md_meal_t *kept = md_meal_load(app->state, &m);
        PQfreemem(addr);
        if (!kept) {
            l->skipped++;
            continue;
        }
        l->meals++;
    }
    char np[24], ns[24], nm[24];
    snprintf(np, sizeof np, "%zu", l->points);
    snprintf(ns, sizeof ns, "%zu", l->slots);
    snprintf(nm, sizeof nm, "%zu", l->meals);
    cc_info("working_set_loaded", "meal_points", np, "slots", ns, "meals", nm);
}

static void s_on_couriers(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_check("md_load_couriers", res);
    for (int i = 0; i < PQntuples(res); i++) {
        md_courier_t c;
        memset(&c, 0, sizeof c);
        snprintf(c.id, sizeof c.id, "%s", PQgetvalue(res, i, 0));
        c.point = md_point_find(l->app->state, PQgetvalue(res, i, 1));
        snprintf(c.provider_id, sizeof c.provider_id, "%s", PQgetvalue(res, i, 2));
        snprintf(c.name, sizeof c.name, "%s", PQgetvalue(res, i, 3));
        int v = md_vehicle_parse(PQgetvalue(res, i, 4));
        c.speed_kmh = strtod(PQgetvalue(res, i, 5), NULL);
        c.capacity = atoi(PQgetvalue(res, i, 6));
        c.shift_start_min = atoi(PQgetvalue(res, i, 7));
        c.shift_end_min = atoi(PQgetvalue(res, i, 8));
        snprintf(c.idem_key, sizeof c.idem_key, "%s", PQgetvalue(res, i, 9));
        snprintf(c.req_hash, sizeof c.req_hash, "%s", PQgetvalue(res, i, 10));
        if (!c.point || v < 0)
            cc_rt_fatal("couriers_orphan", NULL);
        c.vehicle = (md_vehicle_t)v;
        if (!md_courier_add(l->app->state, &c))
            cc_rt_fatal("couriers_memory", NULL);
    }
}

static void s_on_plans(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_check("md_load_plans", res);
    for (int i = 0; i < PQntuples(res); i++)
        if (md_plan_loaded(l->app, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                           PQgetvalue(res, i, 2), atoi(PQgetvalue(res, i, 3)),
                           PQgetvalue(res, i, 4)) != 0)
            cc_rt_fatal("round_plans_load", NULL);
}

static void s_on_deadlines(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    const char *what = NULL;
    if (md_store_load_deadlines(l->app->deadlines, res, &what) != 0) {
        cc_error("deadlines_invalid", "what", what);
        cc_rt_fatal("md_load_deadlines", res);
    }
    cc_rt_loaded(&l->app->rt);
}

int md_store_load(void *arg)
{
    md_app_t *app = arg;
    /* One load per process, and a stop before it finishes must not leak:
     * the context is static. */
    static s_load_t s_load;
    s_load.app = app;
    char since[16];
    md_day_format(md_day_of_us(cc_now_us()) - (int32_t)app->retain_days, since, sizeof since);
    /* In queue order on one connection: points before the slots and meals
     * that refer to them; the last callback finishes. */
    cc_args_t points, slots, meals, deadlines, couriers, plans;
    cc_args_init(&points, &md_stmts[MD_ST_LOAD_POINTS]);
    cc_args_init(&slots, &md_stmts[MD_ST_LOAD_SLOTS]);
    cc_args_init(&meals, &md_stmts[MD_ST_LOAD_MEALS]);
    cc_args_text(&meals, "since", since);
    cc_args_init(&deadlines, &md_stmts[MD_ST_LOAD_DEADLINES]);
    cc_args_init(&couriers, &md_stmts[MD_ST_LOAD_COURIERS]);
    cc_args_init(&plans, &md_stmts[MD_ST_LOAD_PLANS]);
    cc_args_text(&plans, "since", since);
    if (cc_db_call(app->rt.reader, &points, s_on_points, &s_load)
        || cc_db_call(app->rt.reader, &slots, s_on_slots, &s_load)
        || cc_db_call(app->rt.reader, &meals, s_on_meals, &s_load)
        || cc_db_call(app->rt.reader, &couriers, s_on_couriers, &s_load)
        || cc_db_call(app->rt.reader, &plans, s_on_plans, &s_load)
        || cc_db_call(app->rt.reader, &deadlines, s_on_deadlines, &s_load))
        return -1;
    return 0;
}
