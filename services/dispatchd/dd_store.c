/* dd_store: see dd_store.h. */
#include "dd_store.h"
#include "cc_revoke.h"
#include "dd_app.h"
#include "dd_dispatch.h"
#include "dd_ops.h"
#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_rt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VISIT_COLUMNS \
    "SELECT id, order_id, elder_id, service, ability_level, emergency, priority, district_id," \
    " lat, lon, dd_us(window_start), dd_us(window_end), preferred_caregiver_id, notes, state," \
    " coalesce(caregiver_id::text, ''), coalesce(provider_id, ''), coalesce(dd_us(eta), 0)," \
    " coalesce(dd_us(planned_end), 0), coalesce(travel_s, 0), dd_us(created_at)," \
    " coalesce(dd_us(assigned_at), 0), coalesce(dd_us(accepted_at), 0)," \
    " coalesce(dd_us(checked_in_at), 0), coalesce(checkin_lat, 0), coalesce(checkin_lon, 0)," \
    " coalesce(checkin_distance_m, 0), coalesce(dd_us(checked_out_at), 0)," \
    " coalesce(checkout_lat, 0), coalesce(checkout_lon, 0), coalesce(checkout_distance_m, 0)," \
    " array_to_string(declined, ','), coalesce(fail_reason, '')," \
    " coalesce(dd_us(finished_at), 0), coalesce(dd_us(unconfirmed_at), 0), address_sealed"

#define W CC_STMT_WRITER
#define R CC_STMT_READER
#define S_NONE { { NULL, CC_T_NONE } }
/* Parameter groups that several functions share, in their order. */
#define S_CONSUMED { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID }
#define S_RELEASED                                                                          \
    { "id", CC_T_UUID }, { "order", CC_T_TEXT }, { "elder", CC_T_TEXT },                    \
    { "service", CC_T_TEXT }, { "ability", CC_T_TEXT }, { "emergency", CC_T_BOOL },         \
    { "priority", CC_T_INT4 }, { "district", CC_T_INT4 }, { "lat", CC_T_FLOAT8 },           \
    { "lon", CC_T_FLOAT8 }, { "ws", CC_T_INT8 }, { "we", CC_T_INT8 }, { "pref", CC_T_TEXT }, \
    { "notes", CC_T_TEXT }, { "created", CC_T_INT8 }, { "caregiver", CC_T_UUID },           \
    { "provider", CC_T_TEXT }, { "eta", CC_T_INT8 }, { "end", CC_T_INT8 },                  \
    { "travel", CC_T_INT4 }, { "ev", CC_T_UUID }, { "payload", CC_T_BYTEA },                \
    { "address", CC_T_BYTEA }
#define S_ASSIGN                                                                            \
    { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "caregiver", CC_T_UUID },             \
    { "provider", CC_T_TEXT }, { "eta", CC_T_INT8 }, { "end", CC_T_INT8 },                  \
    { "travel", CC_T_INT4 }, { "at", CC_T_INT8 }, { "order", CC_T_TEXT }, { "ev", CC_T_UUID }, \
    { "payload", CC_T_BYTEA }
/* An unaccepted routine offer that gives way to an emergency (dd_bump_args). */
#define S_BUMP                                                                              \
    { "b_district", CC_T_INT4 }, { "b_id", CC_T_UUID }, { "b_caregiver", CC_T_UUID },       \
    { "b_order", CC_T_TEXT }, { "b_ev", CC_T_UUID }, { "b_payload", CC_T_BYTEA }
/* The tail of every visit step: the order it belongs to and the event. */
#define S_EVENT { "order", CC_T_TEXT }, { "ev", CC_T_UUID }, { "payload", CC_T_BYTEA }

cc_stmt_t dd_stmts[DD_ST_COUNT + 1] = {
    [DD_ST_CG_CREATE] = { "dd_caregiver_create", W, "dd_caregiver_create", NULL, NULL,
        { { "id", CC_T_UUID }, { "idem", CC_T_TEXT }, { "provider", CC_T_TEXT },
          { "district", CC_T_INT4 }, { "name", CC_T_TEXT }, { "lat", CC_T_FLOAT8 },
          { "lon", CC_T_FLOAT8 }, { "skills", CC_T_TEXT }, { "level", CC_T_INT4 },
          { "first_aid", CC_T_BOOL }, { "shift_start", CC_T_INT4 },
          { "shift_end", CC_T_INT4 } }, NULL },
    [DD_ST_RELEASED] = { "dd_on_order_released", W, "dd_on_order_released", NULL, NULL,
        { S_CONSUMED, S_RELEASED }, NULL },
    [DD_ST_RELEASED_BUMP] = { "dd_on_order_released_bump", W, "dd_on_order_released_bump",
        NULL, NULL, { S_CONSUMED, S_RELEASED, S_BUMP }, NULL },
    [DD_ST_CANCELLED] = { "dd_on_order_cancelled", W, "dd_on_order_cancelled", NULL, NULL,
        { S_CONSUMED, { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "at", CC_T_INT8 } },
        NULL },
    [DD_ST_ASSIGN] = { "dd_visit_assign", W, "dd_visit_assign", NULL, NULL, { S_ASSIGN }, NULL },
    [DD_ST_ASSIGN_BUMP] = { "dd_visit_assign_bump", W, "dd_visit_assign_bump", NULL, NULL,
        { S_ASSIGN, S_BUMP }, NULL },
    [DD_ST_DECLINE] = { "dd_visit_decline", W, "dd_visit_decline", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "caregiver", CC_T_UUID }, S_EVENT,
          { "next", CC_T_UUID }, { "provider", CC_T_TEXT }, { "eta", CC_T_INT8 },
          { "end", CC_T_INT8 }, { "travel", CC_T_INT4 }, { "at", CC_T_INT8 },
          { "ev2", CC_T_UUID }, { "payload2", CC_T_BYTEA } }, NULL },
    [DD_ST_ACCEPT] = { "dd_visit_accept", W, "dd_visit_accept", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "caregiver", CC_T_UUID },
          { "at", CC_T_INT8 }, S_EVENT }, NULL },
    [DD_ST_CHECK] = { "dd_visit_check", W, "dd_visit_check", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "caregiver", CC_T_UUID },
          { "out", CC_T_BOOL }, { "at", CC_T_INT8 }, { "lat", CC_T_FLOAT8 },
          { "lon", CC_T_FLOAT8 }, { "distance", CC_T_INT4 }, S_EVENT,
          /* an assessment's check-out (sql/dispatchd/011): NULL otherwise */
          { "level", CC_T_TEXT }, { "score", CC_T_INT2 }, { "ev2", CC_T_UUID },
          { "payload2", CC_T_BYTEA } }, NULL },
    [DD_ST_CAPACITY] = { "dd_capacity_report", W, "dd_capacity_report", NULL, NULL,
        { { "batch", CC_T_TEXT } }, NULL },
    [DD_ST_REPLAN] = { "dd_visits_replan", W, "dd_visits_replan", NULL, NULL,
        { { "at", CC_T_INT8 }, { "batch", CC_T_TEXT } }, NULL },
    [DD_ST_RESOLVE] = { "dd_visit_resolve", W, "dd_visit_resolve", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "from", CC_T_TEXT },
          { "to", CC_T_TEXT }, { "reason", CC_T_TEXT }, { "by", CC_T_TEXT },
          { "at", CC_T_INT8 }, { "order", CC_T_TEXT }, { "type", CC_T_TEXT },
          { "ev", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [DD_ST_LOAD_CGS] = { "dd_load_caregivers", R, NULL, NULL,
        "SELECT id, provider_id, district_id, name, lat, lon, array_to_string(skills, ','),"
        " level, first_aid, shift_start, shift_end, coalesce(idempotency_key, '')"
        " FROM caregivers ORDER BY created_at, id", S_NONE, NULL },
    [DD_ST_LOAD_VISITS] = { "dd_load_visits", R, NULL, NULL,
        S_VISIT_COLUMNS
        " FROM visits WHERE state IN ('waiting', 'assigned', 'accepted', 'checked_in',"
        "                             'unconfirmed')"
        "    OR finished_at > now() - $1::bigint * interval '1 second'"
        " ORDER BY created_at, id", { { "keep_s", CC_T_INT8 } }, NULL },
    [DD_ST_LOAD_DEADLINES] = { "dd_load_deadlines", R, NULL, NULL,
        "SELECT service, offer_s, assign_s, checkin_s, checkout_s, confirm_s, overdue_s"
        " FROM deadlines", S_NONE, NULL },
    [DD_ST_GET_VISIT] = { "dd_get_visit", R, NULL, NULL,
        S_VISIT_COLUMNS " FROM visits WHERE id = $1::uuid", { { "id", CC_T_UUID } }, NULL },
    [DD_ST_ACCOUNT_CHANGED] = CC_REVOKE_STMT_APPLY,
    [DD_ST_ACCOUNT_GENS] = CC_REVOKE_STMT_LOAD,
    [DD_ST_ROTA_SET] = { "dd_rota_set", W, "dd_rota_set", NULL, NULL,
        { { "district", CC_T_INT4 }, { "caregiver", CC_T_UUID }, { "day", CC_T_DATE },
          { "start", CC_T_INT4 }, { "end", CC_T_INT4 }, { "off", CC_T_TEXT },
          { "by", CC_T_TEXT }, { "at", CC_T_INT8 }, { "vdistricts", CC_T_INT8_ARRAY },
          { "ids", CC_T_TEXT_ARRAY }, { "orders", CC_T_TEXT_ARRAY },
          { "evs", CC_T_TEXT_ARRAY }, { "payloads", CC_T_TEXT_ARRAY } }, NULL },
    [DD_ST_CERT_ADD] = { "dd_certificate_add", W, "dd_certificate_add", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "caregiver", CC_T_UUID },
          { "kind", CC_T_TEXT }, { "level", CC_T_INT4 }, { "from", CC_T_INT8 },
          { "until", CC_T_INT8 }, { "by", CC_T_TEXT }, { "at", CC_T_INT8 } }, NULL },
    [DD_ST_ZONE_SET] = { "dd_provider_districts_set", W, "dd_provider_districts_set", NULL,
        NULL, { { "provider", CC_T_TEXT }, { "districts", CC_T_INT8_ARRAY },
                { "by", CC_T_TEXT }, { "at", CC_T_INT8 } }, NULL },
    [DD_ST_MANUAL_ASSIGN] = { "dd_visit_manual_assign", W, "dd_visit_manual_assign", NULL,
        NULL, { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "from", CC_T_TEXT },
                { "old", CC_T_UUID }, { "caregiver", CC_T_UUID }, { "provider", CC_T_TEXT },
                { "eta", CC_T_INT8 }, { "end", CC_T_INT8 }, { "travel", CC_T_INT4 },
                { "at", CC_T_INT8 }, { "order", CC_T_TEXT }, { "rec", CC_T_UUID },
                { "reason", CC_T_TEXT }, { "by", CC_T_TEXT }, { "forced", CC_T_BOOL },
                { "ev_d", CC_T_UUID }, { "pay_d", CC_T_BYTEA }, { "ev", CC_T_UUID },
                { "payload", CC_T_BYTEA } }, NULL },
    [DD_ST_RELEASE] = { "dd_visit_release", W, "dd_visit_release", NULL, NULL,
        { { "district", CC_T_INT4 }, { "id", CC_T_UUID }, { "rec", CC_T_UUID },
          { "reason", CC_T_TEXT }, { "by", CC_T_TEXT }, { "at", CC_T_INT8 } }, NULL },
    /* Rota rows from two days back (older ones decide nothing now). */
    [DD_ST_LOAD_OPS] = { "dd_load_ops", R, NULL, NULL,
        "SELECT 'zone', provider_id::text, '', array_to_string(district_ids, ','), 0::bigint,"
        "       0::bigint, 0::bigint FROM provider_districts"
        " UNION ALL"
        " SELECT 'rota', caregiver_id::text, day::text, coalesce(off, ''),"
        "        coalesce(shift_start, 0)::bigint, coalesce(shift_end, 0)::bigint, 0::bigint"
        "   FROM caregiver_rota"
        "  WHERE day >= (now() AT TIME ZONE 'Asia/Shanghai')::date - 2"
        " UNION ALL"
        " SELECT 'cert', caregiver_id::text, id::text, kind, level::bigint, dd_us(valid_from),"
        "        dd_us(valid_until) FROM caregiver_certificates"
        " UNION ALL"
        " SELECT 'pin', id::text, manual_caregiver_id::text, '', 0::bigint, 0::bigint,"
        "        0::bigint FROM visits"
        "  WHERE manual_caregiver_id IS NOT NULL"
        "    AND state IN ('assigned', 'accepted', 'checked_in')", S_NONE, NULL },
    [DD_ST_COUNT] = { NULL, 0, NULL, NULL, NULL, S_NONE, NULL },
};

uint32_t dd_skills_parse_csv(const char *csv)
{
    uint32_t skills = 0;
    char name[32];
    while (csv && *csv) {
        const char *end = strchr(csv, ',');
        size_t n = end ? (size_t) (end - csv) : strlen(csv);
        if (n < sizeof name) {
            memcpy(name, csv, n);
            name[n] = '\0';
            int s = cc_service_parse(name);
            if (s > 0 && s <= DD_SVC_MAX)
                skills |= 1u << s;
        }
        csv = end ? end + 1 : NULL;
    }
    return skills;
}

char *dd_skills_csv(uint32_t skills, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int s = 1; s <= DD_SVC_MAX; s++) {
        const char *name = cc_service_name(s);
        if (!(skills & (1u << s)) || !name)
            continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? "," : "", name);
        if (w < 0 || (size_t) w >= len - off) {
            buf[off] = '\0';   /* no half names */
            break;
        }
        off += (size_t) w;
    }
    return buf;
}

static int64_t s_i64(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static double s_f64(PGresult *res, int row, int col)
{
    return strtod(PQgetvalue(res, row, col), NULL);
}

static int s_bool(PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

static void s_copy(char *dst, size_t len, PGresult *res, int row, int col)
{
    snprintf(dst, len, "%s", PQgetvalue(res, row, col));
}

int dd_store_load_caregivers(dd_world_t *world, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 12)
        return -1;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        dd_caregiver_t *c = dd_caregiver_new();
        if (!c)
            return -1;
        s_copy(c->id, sizeof c->id, res, r, 0);
        s_copy(c->provider_id, sizeof c->provider_id, res, r, 1);
        c->district_id = (uint32_t) s_i64(res, r, 2);
        c->name = strdup(PQgetvalue(res, r, 3));
        c->lat = s_f64(res, r, 4);
        c->lon = s_f64(res, r, 5);
        c->skills = dd_skills_parse_csv(PQgetvalue(res, r, 6));
        c->level = (int) s_i64(res, r, 7);
        c->first_aid = s_bool(res, r, 8);
        c->shift_start_min = (int) s_i64(res, r, 9);
        c->shift_end_min = (int) s_i64(res, r, 10);
        s_copy(c->idem_key, sizeof c->idem_key, res, r, 11);
        if (!c->name || dd_world_add_caregiver(world, &c) != 0) {
            dd_caregiver_free(&c);
            return -1;
        }
    }
    return rows;
}

int dd_store_load_visits(dd_world_t *world, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 36)
        return -1;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        dd_visit_t *v = dd_visit_new();
        if (!v)
            return -1;
        s_copy(v->id, sizeof v->id, res, r, 0);
        s_copy(v->order_id, sizeof v->order_id, res, r, 1);
        s_copy(v->elder_id, sizeof v->elder_id, res, r, 2);
        v->service = cc_service_parse(PQgetvalue(res, r, 3));
        v->ability = dd_ability_parse(PQgetvalue(res, r, 4));
        v->emergency = s_bool(res, r, 5);
        v->priority = (int) s_i64(res, r, 6);
        v->district_id = (uint32_t) s_i64(res, r, 7);
        v->lat = s_f64(res, r, 8);
        v->lon = s_f64(res, r, 9);
        v->window_start_us = s_i64(res, r, 10);
        v->window_end_us = s_i64(res, r, 11);
        s_copy(v->preferred_caregiver_id, sizeof v->preferred_caregiver_id, res, r, 12);
        const char *notes = PQgetvalue(res, r, 13);
        if (notes[0] && !(v->notes = strdup(notes)))
            goto fail;
        int st = dd_visit_state_parse(PQgetvalue(res, r, 14));
        if (st < 0)
            goto fail;
        v->state = (dd_visit_state_t) st;
        s_copy(v->caregiver_id, sizeof v->caregiver_id, res, r, 15);
        s_copy(v->provider_id, sizeof v->provider_id, res, r, 16);
        v->eta_us = s_i64(res, r, 17);
        v->planned_end_us = s_i64(res, r, 18);
        v->travel_s = (int) s_i64(res, r, 19);
        v->created_us = s_i64(res, r, 20);
        v->assigned_us = s_i64(res, r, 21);
        v->accepted_us = s_i64(res, r, 22);
        v->checked_in_us = s_i64(res, r, 23);
        v->in_lat = s_f64(res, r, 24);
        v->in_lon = s_f64(res, r, 25);
        v->in_distance_m = (int) s_i64(res, r, 26);
        v->checked_out_us = s_i64(res, r, 27);
        v->out_lat = s_f64(res, r, 28);
        v->out_lon = s_f64(res, r, 29);
        v->out_distance_m = (int) s_i64(res, r, 30);
        const char *declined = PQgetvalue(res, r, 31);
        while (declined && *declined) {
            char id[DD_ID_LEN];
            const char *end = strchr(declined, ',');
            size_t n = end ? (size_t) (end - declined) : strlen(declined);
            if (n < sizeof id) {
                memcpy(id, declined, n);
                id[n] = '\0';
                if (dd_visit_add_declined(v, id) != 0)
                    goto fail;
            }
            declined = end ? end + 1 : NULL;
        }
        s_copy(v->fail_reason, sizeof v->fail_reason, res, r, 32);
        v->finished_us = s_i64(res, r, 33);
        v->unconfirmed_us = s_i64(res, r, 34);
        if (!PQgetisnull(res, r, 35)) {   /* sealed as orderd sent it (dd_visit_address) */
            size_t len = 0;
            unsigned char *b = PQunescapeBytea((const unsigned char *) PQgetvalue(res, r, 35),
                                               &len);
            if (!b)
                goto fail;
            v->address_sealed = malloc(len ? len : 1);
            if (v->address_sealed)
                memcpy(v->address_sealed, b, len);
            v->address_sealed_len = len;
            PQfreemem(b);
            if (!v->address_sealed)
                goto fail;
        }
        if (dd_visit_state_planned(v->state)) {
            v->caregiver = dd_world_caregiver(world, v->caregiver_id);
            if (!v->caregiver)
                goto fail;   /* caregivers are never deleted: store is inconsistent */
        }
        if (dd_world_add_visit(world, &v) != 0)
            goto fail;
        continue;
    fail:
        dd_visit_free(&v);
        return -1;
    }
    return rows;
}

int dd_store_load_deadlines(dd_deadlines_t *out, PGresult *res, const char **what)
{
    *what = "result";
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 7)
        return -1;
    dd_deadlines_t d;
    memset(&d, 0, sizeof d);
    for (int r = 0; r < PQntuples(res); r++) {
        int svc = cc_service_parse(PQgetvalue(res, r, 0));
        if (!dd_service_is_visit(svc))
            continue;   /* a service this build does not dispatch */
        dd_deadline_rule_t *rule = &d.svc[svc];
        rule->offer_s = s_i64(res, r, 1);
        rule->assign_s = s_i64(res, r, 2);
        rule->checkin_s = s_i64(res, r, 3);
        rule->checkout_s = s_i64(res, r, 4);
        rule->confirm_s = s_i64(res, r, 5);
        rule->overdue_s = s_i64(res, r, 6);
        if (dd_deadline_rule_check(rule, what) != 0)
            return -1;
        d.loaded[svc] = 1;
    }
    for (int svc = 1; svc <= DD_SVC_MAX; svc++)
        if (dd_service_is_visit(svc) && !d.loaded[svc]) {
            *what = cc_service_name(svc);   /* every visit service needs its row */
            return -1;
        }
    *out = d;
    return 0;
}

/* ---- load ---------------------------------------------------------------- */

static void s_loaded(const char *what, int n)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%d", n);
    cc_info("working_set_loaded", what, buf);
}

/* Without the working set dispatchd cannot decide: restart and retry. */
static void s_load_failed(const char *what, PGresult *res)
{
    cc_error("startup_failed", "what", what, "status",
             res ? PQresStatus(PQresultStatus(res)) : "not queued");
    exit(1);
}

static void s_on_deadlines(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    const char *what = NULL;
    dd_deadlines_t d;
    if (dd_store_load_deadlines(&d, res, &what) != 0) {
        cc_error("deadlines_invalid", "what", what);
        s_load_failed("load_deadlines", res);
    }
    dd_app_set_deadlines(app, &d);
    app->dirty = 1;
    dd_update_gauges(app);
    dd_ops_load(app);   /* a dispatcher's rules last; it calls cc_rt_loaded */
}

static void s_on_visits(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    int n = dd_store_load_visits(app->world, res);
    if (n < 0)
        s_load_failed("load_visits", res);
    s_loaded("visits", n);
    /* The deadlines last: the sweep needs them from its first tick. */
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_DEADLINES]);
    if (cc_db_call(app->rt.reader, &a, s_on_deadlines, app) != 0)
        s_load_failed("load_deadlines", NULL);
}

static void s_on_caregivers(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    int n = dd_store_load_caregivers(app->world, res);
    if (n < 0)
        s_load_failed("load_caregivers", res);
    s_loaded("caregivers", n);
    /* Visits point at their caregivers: these first. */
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_VISITS]);
    cc_args_int(&a, "keep_s", app->keep_finished_s);
    if (cc_db_call(app->rt.reader, &a, s_on_visits, app) != 0)
        s_load_failed("load_visits", NULL);
}

int dd_store_load(void *arg)
{
    dd_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_CGS]);
    return cc_db_call(app->rt.reader, &a, s_on_caregivers, app);
}
