/* md_store: meald's SQL. See md_store.h. */
#include "md_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_log.h"
#include "cc_util.h"

static const char S_LOAD_POINTS[] =
    "SELECT id::text, name, provider_id, district_id, lat, lon,"
    "       coalesce(idempotency_key, ''), coalesce(request_hash, '')"
    "  FROM meal_points ORDER BY created_at, id";
static const char S_LOAD_SLOTS[] =
    "SELECT meal_point_id::text, slot, capacity, cutoff_min FROM meal_slots";
/* Refused meals have no date of their own: their window's local date. */
static const char S_LOAD_MEALS[] =
    "SELECT order_id::text, status, coalesce(refuse_reason, ''),"
    "       coalesce(meal_point_id::text, ''),"
    "       to_char(coalesce(date, (window_start AT TIME ZONE 'Asia/Shanghai')::date),"
    "               'YYYY-MM-DD'),"
    "       coalesce(slot, ''), district_id, diet, coalesce(lat, 0), coalesce(lon, 0),"
    "       coalesce(ts_us(window_start), 0), coalesce(ts_us(window_end), 0),"
    "       coalesce(ts_us(delivered_at), 0), coalesce(courier_id, '')"
    "  FROM meals"
    " WHERE coalesce(date, (window_start AT TIME ZONE 'Asia/Shanghai')::date) >= $1::date"
    " ORDER BY decided_at, order_id";

static const char S_CREATE_POINT[] =
    "SELECT outcome, meal_point_id::text FROM md_create_point($1::uuid, $2, $3, $4::integer,"
    " $5::float8, $6::float8, $7::text[], $8::integer[], $9::integer[], $10, $11)";
static const char S_SCHEDULE[] =
    "SELECT outcome FROM md_schedule($1, $2::bigint, $3::uuid, $4::uuid, $5::integer,"
    " $6::uuid, $7::date, $8, $9::bigint, $10::bigint, $11, $12::float8, $13::float8,"
    " $14::uuid, $15::bytea)";
static const char S_REFUSE[] =
    "SELECT outcome FROM md_refuse($1, $2::bigint, $3::uuid, $4::uuid, $5::integer, $6,"
    " $7::bigint, $8::bigint, $9, $10::float8, $11::float8, $12::uuid, $13::bytea)";
static const char S_CANCEL[] =
    "SELECT outcome FROM md_cancel($1, $2::bigint, $3::uuid, $4::uuid)";
static const char S_DELIVER[] =
    "SELECT outcome, coalesce(delivered_us, 0), coalesce(courier_id, '')"
    "  FROM md_deliver($1::uuid, $2, $3::bigint, $4::uuid, $5::bytea)";

int md_store_prepare(md_app_t *app)
{
    int rc = 0;
    rc |= cc_db_prepare(app->reader, "md_load_points", S_LOAD_POINTS);
    rc |= cc_db_prepare(app->reader, "md_load_slots", S_LOAD_SLOTS);
    rc |= cc_db_prepare(app->reader, "md_load_meals", S_LOAD_MEALS);
    rc |= cc_db_prepare(app->writer, "md_create_point", S_CREATE_POINT);
    rc |= cc_db_prepare(app->writer, "md_schedule", S_SCHEDULE);
    rc |= cc_db_prepare(app->writer, "md_refuse", S_REFUSE);
    rc |= cc_db_prepare(app->writer, "md_cancel", S_CANCEL);
    rc |= cc_db_prepare(app->writer, "md_deliver", S_DELIVER);
    return rc ? -1 : 0;
}

int md_store_ok(PGresult *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) >= 1;
}

/* ---- load ---------------------------------------------------------------- */
typedef struct {
    md_app_t *app;
    md_store_loaded_fn *done;
    int failed;
    size_t points, slots, meals, skipped;
} s_load_t;

static void s_load_fail(s_load_t *l, const char *what, PGresult *res)
{
    if (!l->failed)
        cc_error("load_failed", "what", what, "sqlstate",
                 res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
    l->failed = 1;
}

static void s_on_points(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return s_load_fail(l, "meal_points", res);
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
        if (!md_point_add(l->app->state, &p))
            return s_load_fail(l, "meal_points_memory", NULL);
        l->points++;
    }
}

static void s_on_slots(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return s_load_fail(l, "meal_slots", res);
    for (int i = 0; i < PQntuples(res); i++) {
        md_point_t *p = md_point_find(l->app->state, PQgetvalue(res, i, 0));
        int slot = md_slot_parse(PQgetvalue(res, i, 1));
        if (!p || slot < 0)
            return s_load_fail(l, "meal_slots_orphan", NULL);
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
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_load_fail(l, "meals", res);
    } else if (!l->failed) {
        for (int i = 0; i < PQntuples(res); i++) {
            md_meal_t m;
            memset(&m, 0, sizeof m);
            snprintf(m.order_id, sizeof m.order_id, "%s", PQgetvalue(res, i, 0));
            int st = md_status_parse(PQgetvalue(res, i, 1));
            if (st < 0) {
                s_load_fail(l, "meals_status", NULL);
                break;
            }
            m.status = (md_meal_status_t)st;
            int reason = md_refusal_parse(PQgetvalue(res, i, 2));
            m.reason = reason > 0 ? (md_refusal_t)reason : MD_REFUSE_NONE;
            const char *pid = PQgetvalue(res, i, 3);
            m.point = *pid ? md_point_find(app->state, pid) : NULL;
            if (md_day_parse(PQgetvalue(res, i, 4), &m.day) != 0) {
                s_load_fail(l, "meals_date", NULL);
                break;
            }
            m.district_id = (uint32_t)strtoul(PQgetvalue(res, i, 6), NULL, 10);
            snprintf(m.diet, sizeof m.diet, "%s", PQgetvalue(res, i, 7));
            m.lat = strtod(PQgetvalue(res, i, 8), NULL);
            m.lon = strtod(PQgetvalue(res, i, 9), NULL);
            m.window_start_us = strtoll(PQgetvalue(res, i, 10), NULL, 10);
            m.window_end_us = strtoll(PQgetvalue(res, i, 11), NULL, 10);
            m.delivered_us = strtoll(PQgetvalue(res, i, 12), NULL, 10);
            snprintf(m.courier_id, sizeof m.courier_id, "%s", PQgetvalue(res, i, 13));
            int slot = md_slot_parse(PQgetvalue(res, i, 5));
            if (slot >= 0) {
                m.slot = (md_slot_t)slot;
            } else {
                int32_t day;
                md_slot_for_window(m.window_start_us, &m.slot, &day);
            }
            if (m.status != MD_MEAL_REFUSED && !m.point) {
                s_load_fail(l, "meals_point", NULL);
                break;
            }
            if (!md_meal_load(app->state, &m)) {
                l->skipped++;
                continue;
            }
            l->meals++;
        }
    }
    char np[24], ns[24], nm[24];
    snprintf(np, sizeof np, "%zu", l->points);
    snprintf(ns, sizeof ns, "%zu", l->slots);
    snprintf(nm, sizeof nm, "%zu", l->meals);
    if (!l->failed)
        cc_info("working_set_loaded", "meal_points", np, "slots", ns, "meals", nm);
    md_store_loaded_fn *done = l->done;
    int ok = !l->failed;
    free(l);
    done(app, ok);
}

int md_store_load(md_app_t *app, int64_t now_us, md_store_loaded_fn *done)
{
    s_load_t *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->app = app;
    l->done = done;
    char since[16];
    md_day_format(md_day_of_us(now_us) - (int32_t)app->retain_days, since, sizeof since);
    const char *v[1] = {since};
    if (cc_db_exec(app->reader, "md_load_points", 0, NULL, NULL, NULL, s_on_points, l)
        || cc_db_exec(app->reader, "md_load_slots", 0, NULL, NULL, NULL, s_on_slots, l)
        || cc_db_exec(app->reader, "md_load_meals", 1, v, NULL, NULL, s_on_meals, l)) {
        /* Out of memory queuing: whatever was queued still calls back into l,
         * so we cannot free it; the daemon exits on this path anyway. */
        return -1;
    }
    return 0;
}

/* ---- writes ---------------------------------------------------------------- */
static int s_exec(md_app_t *app, const md_store_event_t *ev, const char *stmt, int n,
                  const char *const *v, const int *lens, const int *fmts, cc_db_fn *fn,
                  void *arg)
{
    if (ev && ev->consumer)
        return cc_consumer_exec(ev->consumer, stmt, n, v, lens, fmts, fn, arg);
    return cc_db_exec(app->writer, stmt, n, v, lens, fmts, fn, arg);
}

int md_store_create_point(md_app_t *app, const md_point_t *p, cc_db_fn *fn, void *arg)
{
    char district[16], lat[32], lon[32], slots[32], caps[48], cuts[48];
    snprintf(district, sizeof district, "%" PRIu32, p->district_id);
    snprintf(lat, sizeof lat, "%.17g", p->lat);
    snprintf(lon, sizeof lon, "%.17g", p->lon);
    /* Parallel text[] / integer[] literals: {lunch,dinner} {40,20} {600,930} */
    size_t a = 0, b = 0, c = 0;
    slots[a++] = '{';
    caps[b++] = '{';
    cuts[c++] = '{';
    for (int s = 0; s < MD_NSLOTS; s++) {
        const md_slot_conf_t *sc = &p->slots[s];
        if (!sc->offered)
            continue;
        const char *sep = (a > 1) ? "," : "";
        a += (size_t)snprintf(slots + a, sizeof slots - a, "%s%s", sep,
                              md_slot_name((md_slot_t)s));
        b += (size_t)snprintf(caps + b, sizeof caps - b, "%s%d", sep, sc->capacity);
        c += (size_t)snprintf(cuts + c, sizeof cuts - c, "%s%d", sep, sc->cutoff_min);
    }
    snprintf(slots + a, sizeof slots - a, "}");
    snprintf(caps + b, sizeof caps - b, "}");
    snprintf(cuts + c, sizeof cuts - c, "}");
    const char *v[11] = {p->id, p->name, p->provider_id, district, lat, lon, slots, caps, cuts,
                         p->idem_key[0] ? p->idem_key : NULL,
                         p->req_hash[0] ? p->req_hash : NULL};
    return cc_db_exec(app->writer, "md_create_point", 11, v, NULL, NULL, fn, arg);
}

int md_store_schedule(md_app_t *app, const md_store_event_t *ev, const md_meal_t *m,
                      const char *out_id, const uint8_t *payload, size_t len,
                      cc_db_fn *fn, void *arg)
{
    char seq[24], district[16], date[16], ws[24], we[24], lat[32], lon[32];
    snprintf(seq, sizeof seq, "%" PRIu64, ev->seq);
    snprintf(district, sizeof district, "%" PRIu32, m->district_id);
    md_day_format(m->day, date, sizeof date);
    snprintf(ws, sizeof ws, "%" PRId64, m->window_start_us);
    snprintf(we, sizeof we, "%" PRId64, m->window_end_us);
    snprintf(lat, sizeof lat, "%.17g", m->lat);
    snprintf(lon, sizeof lon, "%.17g", m->lon);
    const char *v[15] = {ev->producer, seq, ev->event_id, m->order_id, district, m->point->id,
                         date, md_slot_name(m->slot), ws, we, m->diet, lat, lon, out_id,
                         (const char *)payload};
    int lens[15] = {0};
    int fmts[15] = {0};
    lens[14] = (int)len;
    fmts[14] = 1;
    return s_exec(app, ev, "md_schedule", 15, v, lens, fmts, fn, arg);
}

int md_store_refuse(md_app_t *app, const md_store_event_t *ev, const md_meal_t *m,
                    const char *out_id, const uint8_t *payload, size_t len,
                    cc_db_fn *fn, void *arg)
{
    char seq[24], district[16], ws[24], we[24], lat[32], lon[32];
    snprintf(seq, sizeof seq, "%" PRIu64, ev->seq);
    snprintf(district, sizeof district, "%" PRIu32, m->district_id);
    snprintf(ws, sizeof ws, "%" PRId64, m->window_start_us);
    snprintf(we, sizeof we, "%" PRId64, m->window_end_us);
    snprintf(lat, sizeof lat, "%.17g", m->lat);
    snprintf(lon, sizeof lon, "%.17g", m->lon);
    const char *v[13] = {ev->producer, seq, ev->event_id, m->order_id, district,
                         md_refusal_name(m->reason), ws, we, m->diet, lat, lon, out_id,
                         (const char *)payload};
    int lens[13] = {0};
    int fmts[13] = {0};
    lens[12] = (int)len;
    fmts[12] = 1;
    return s_exec(app, ev, "md_refuse", 13, v, lens, fmts, fn, arg);
}

int md_store_cancel(md_app_t *app, const md_store_event_t *ev, const char *order_id,
                    cc_db_fn *fn, void *arg)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, ev->seq);
    const char *v[4] = {ev->producer, seq, ev->event_id, order_id};
    return s_exec(app, ev, "md_cancel", 4, v, NULL, NULL, fn, arg);
}

int md_store_deliver(md_app_t *app, const char *order_id, const char *courier_id,
                     int64_t at_us, const char *out_id, const uint8_t *payload, size_t len,
                     cc_db_fn *fn, void *arg)
{
    char at[24];
    snprintf(at, sizeof at, "%" PRId64, at_us);
    const char *v[5] = {order_id, courier_id && *courier_id ? courier_id : NULL, at, out_id,
                        (const char *)payload};
    int lens[5] = {0, 0, 0, 0, (int)len};
    int fmts[5] = {0, 0, 0, 0, 1};
    return cc_db_exec(app->writer, "md_deliver", 5, v, lens, fmts, fn, arg);
}
