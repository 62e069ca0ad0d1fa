/* md_plan: see md_plan.h. */
#include "md_plan.h"
#include "md_rounds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cc_limits.h"
#include "cc_log.h"
#include "cc_map.h"
#include "cc_util.h"
#include "cc_work.h"
#include "md_rounds.h"
#include "md_store.h"

#define S_QUEUE_MAX 64   /* plans waiting for the worker; more wait for a later tick */

/* What meald knows of one (point, day, slot)'s rounds. */
typedef struct {
    md_point_t *point;
    int32_t day;
    md_slot_t slot;
    int version;             /* of the stored plan, 0: none yet */
    int next_version;        /* of the last plan started */
    int planning;            /* a plan is being made or stored */
    int dirty;               /* a late change since the last plan started */
    json_t *plan;            /* the stored plan (owned), NULL before */
} s_entry_t;

static cc_map_t *s_entries;  /* "point/day/slot" -> s_entry_t */
static cc_work_t *s_work;

typedef struct {
    md_app_t *app;
    char key[MD_ID_LEN + 32];
    int version;
    int64_t planned_us;
    md_round_input_t in;
    md_round_plan_t plan;
    int rc;
    json_t *json;            /* built on the loop once planned */
} s_job_t;

static void s_key(const md_point_t *p, int32_t day, md_slot_t slot, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%ld/%d", p->id, (long)day, (int)slot);
}

static void s_entry_free(void *v)
{
    s_entry_t *e = v;
    json_decref(e->plan);
    free(e);
}

static s_entry_t *s_entry(const md_point_t *p, int32_t day, md_slot_t slot, int create)
{
    char key[MD_ID_LEN + 32];
    s_key(p, day, slot, key, sizeof key);
    s_entry_t *e = cc_map_get(s_entries, key);
    if (e || !create)
        return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->point = (md_point_t *)p;
    e->day = day;
    e->slot = slot;
    if (cc_map_put(s_entries, key, e, NULL) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

static void s_job_free(s_job_t *j)
{
    if (!j)
        return;
    md_round_plan_free(&j->plan);
    free(j->in.meals);
    free(j->in.couriers);
    json_decref(j->json);
    free(j);
}

int md_plan_init(md_app_t *app)
{
    s_entries = cc_map_new();
    s_work = cc_work_new(app->rt.base, 1, S_QUEUE_MAX);
    return s_entries && s_work ? 0 : -1;
}

void md_plan_fini(md_app_t *app)
{
    (void)app;
    cc_work_destroy(&s_work);
    cc_map_destroy(&s_entries, s_entry_free);
}

/* ---- store --------------------------------------------------------------- */
static int s_was_unserved(const json_t *plan, const char *order_id)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(plan, "unserved"), i, u)
        if (strcmp(json_string_value(json_object_get(u, "order_id")) ?: "", order_id) == 0)
            return 1;
    return 0;
}

static void s_on_stored(PGresult *res, void *arg)
{
    s_job_t *j = arg;
    md_app_t *app = j->app;
    s_entry_t *e = s_entries ? cc_map_get(s_entries, j->key) : NULL;
    if (md_store_failed(&app->rt, "md_store_rounds", res, NULL)) {
        if (e) {
            e->planning = 0;
            e->dirty = 1;   /* the next tick plans again */
        }
        s_job_free(j);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_store_rounds", res);
    int stored = strcmp(PQgetvalue(res, 0, 0), "stored") == 0;
    if (e && stored) {
        for (size_t u = 0; u < j->plan.nunserved; u++) {
            const char *oid = j->in.meals[j->plan.unserved[u].meal].order_id;
            const char *why = j->plan.unserved[u].reason;
            if (e->plan && s_was_unserved(e->plan, oid))
                continue;   /* reported by an earlier plan */
            cc_warn("meal_unserved", "order_id", oid, "meal_point_id", e->point->id,
                    "reason", why);
            for (int r = 0; r < MD_UNSERVED_REASONS; r++)
                if (strcmp(md_unserved_names[r], why) == 0)
                    cc_metric_inc(app->m_unserved[r]);
        }
        json_decref(e->plan);
        e->plan = j->json;
        j->json = NULL;
        e->version = j->version;
        char v[16], n[16], u[16];
        snprintf(v, sizeof v, "%d", j->version);
        snprintf(n, sizeof n, "%zu", j->plan.nrounds);
        snprintf(u, sizeof u, "%zu", j->plan.nunserved);
        cc_info("rounds_planned", "meal_point_id", e->point->id, "version", v, "rounds", n,
                "unserved", u);
        cc_metric_inc(app->m_plans);
    }
    if (e && e->next_version == j->version)
        e->planning = 0;
    s_job_free(j);
}

/* ---- the worker ------------------------------------------------------------ */
static void s_run(void *arg)
{
    s_job_t *j = arg;
    /* The solve runs to its budget in wall time: every loop goes first. */
    (void) cc_work_background();
    j->rc = md_rounds_plan(&j->in, &j->plan);
}

static void s_done(void *arg, int ran)
{
    s_job_t *j = arg;
    md_app_t *app = j->app;
    s_entry_t *e = ran && s_entries ? cc_map_get(s_entries, j->key) : NULL;
    if (!e || app->rt.stopping) {
        s_job_free(j);
        return;
    }
    cc_metric_observe(app->m_plan_s, (double)(cc_mono_us() - j->planned_us) / CC_US_PER_S);
    if (j->rc != 0 || !(j->json = md_rounds_json(&j->in, &j->plan))) {
        cc_error("rounds_not_planned", "meal_point_id", e->point->id, "what", "out_of_memory");
        e->planning = 0;
        e->dirty = 1;
        s_job_free(j);
        return;
    }
    char date[16], at[48];
    int64_t now = cc_now_us();
    md_day_format(e->day, date, sizeof date);
    json_object_set_new(j->json, "meal_point_id", json_string(e->point->id));
    json_object_set_new(j->json, "date", json_string(date));
    json_object_set_new(j->json, "slot", json_string(md_slot_name(e->slot)));
    json_object_set_new(j->json, "version", json_integer(j->version));
    json_object_set_new(j->json, "planned_at", json_string(cc_time_format(now, at, sizeof at)));
    char *text = json_dumps(j->json, JSON_COMPACT);
    if (!text)
        cc_rt_fatal("out_of_memory", NULL);
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_STORE_ROUNDS]);
    cc_args_text(&a, "point", e->point->id);
    cc_args_text(&a, "date", date);
    cc_args_text(&a, "slot", md_slot_name(e->slot));
    cc_args_int(&a, "version", j->version);
    cc_args_int(&a, "planned_us", now);
    cc_args_int(&a, "unserved", (int64_t)j->plan.nunserved);
    cc_args_text(&a, "plan", text);
    if (cc_db_call(app->rt.writer, &a, s_on_stored, j) != 0)
        cc_rt_fatal("queue_failed", NULL);
    free(text);
}

/* Copy what the plan needs; NULL when out of memory. */
static s_job_t *s_job_new(md_app_t *app, s_entry_t *e)
{
    const md_point_t *p = e->point;
    size_t n = 0;
    md_meal_t *const *meals = md_bucket_meals(app->state, p, e->day, e->slot, &n);
    s_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->in.meals = calloc(n + 1, sizeof *j->in.meals);
    size_t nc = md_courier_count(app->state);
    j->in.couriers = calloc(nc + 1, sizeof *j->in.couriers);
    if (!j->in.meals || !j->in.couriers) {
        s_job_free(j);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const md_meal_t *m = meals[i];
        if (m->status != MD_MEAL_SCHEDULED || m->eat_in)
            continue;   /* delivered, failed, eaten in: no stop */
        md_round_meal_t *r = &j->in.meals[j->in.nmeals++];
        snprintf(r->order_id, sizeof r->order_id, "%s", m->order_id);
        snprintf(r->diet, sizeof r->diet, "%s", m->diet);
        r->lat = m->lat;
        r->lon = m->lon;
        r->window_start_us = m->window_start_us;
        r->window_end_us = m->window_end_us;
    }
    int64_t day0 = md_day_start_us(e->day);
    for (size_t i = 0; i < nc; i++) {
        const md_courier_t *c = md_courier_at(app->state, i);
        if (c->point != p)
            continue;
        md_round_courier_t *r = &j->in.couriers[j->in.ncouriers++];
        snprintf(r->courier_id, sizeof r->courier_id, "%s", c->id);
        r->vehicle = c->vehicle;
        r->speed_kmh = c->speed_kmh;
        r->capacity = c->capacity;
        r->shift_start_us = day0 + (int64_t)c->shift_start_min * CC_US_PER_MIN;
        r->shift_end_us = day0 + (int64_t)c->shift_end_min * CC_US_PER_MIN;
    }
    j->in.lat = p->lat;
    j->in.lon = p->lon;
    j->in.depart_us = md_cutoff_us(e->day, p->slots[e->slot].cutoff_min);
    j->in.hot_limit_s = p->hot_limit_min * 60;
    j->in.time_limit_s = (double)app->round_plan_ms / 1000.0;
    j->app = app;
    s_key(p, e->day, e->slot, j->key, sizeof j->key);
    return j;
}

static size_t s_deliveries(md_app_t *app, const md_point_t *p, int32_t day, md_slot_t slot)
{
    size_t n = 0, k = 0;
    md_meal_t *const *meals = md_bucket_meals(app->state, p, day, slot, &n);
    for (size_t i = 0; i < n; i++)
        k += meals[i]->status == MD_MEAL_SCHEDULED && !meals[i]->eat_in;
    return k;
}

void md_plan_tick(md_app_t *app, int64_t now_us)
{
    int32_t today = md_day_of_us(now_us);
    for (size_t i = 0; i < md_point_count(app->state); i++) {
        md_point_t *p = md_point_at(app->state, i);
        for (int s = 0; s < MD_NSLOTS; s++) {
            const md_slot_conf_t *sc = &p->slots[s];
            if (!sc->offered || !md_cutoff_passed(today, sc->cutoff_min, now_us))
                continue;
            s_entry_t *e = s_entry(p, today, (md_slot_t)s, 0);
            if (e && (e->planning || (e->version > 0 && !e->dirty)))
                continue;
            if (!e && s_deliveries(app, p, today, (md_slot_t)s) == 0)
                continue;   /* nothing to carry: no plan */
            if (!e && !(e = s_entry(p, today, (md_slot_t)s, 1)))
                return;     /* out of memory: the next tick tries again */
            if (e->version == 0 && !e->dirty && e->next_version > 0)
                continue;   /* the first plan is stored or failed: it set dirty */
            s_job_t *j = s_job_new(app, e);
            if (!j)
                return;
            j->version = ++e->next_version;
            j->planned_us = cc_mono_us();
            if (cc_work_submit(s_work, s_run, s_done, j) != 0) {
                e->next_version--;
                s_job_free(j);
                return;     /* the queue is full: later */
            }
            e->planning = 1;
            e->dirty = 0;
        }
    }
}

void md_plan_changed(md_app_t *app, const md_meal_t *m)
{
    (void)app;
    if (!m->point || !s_entries)
        return;
    s_entry_t *e = s_entry(m->point, m->day, m->slot, 0);
    if (e)
        e->dirty = 1;
}

typedef struct {
    const md_point_t *point;
    int32_t today;
} s_mark_t;

static int s_mark(const char *key, void *v, void *arg)
{
    (void)key;
    s_entry_t *e = v;
    const s_mark_t *m = arg;
    if (e->point == m->point && e->day >= m->today)
        e->dirty = 1;
    return 0;
}

void md_plan_point_changed(md_app_t *app, const md_point_t *p)
{
    (void)app;
    if (!s_entries)
        return;
    s_mark_t m = { p, md_day_of_us(cc_now_us()) };
    cc_map_each(s_entries, s_mark, &m);
}

int md_plan_loaded(md_app_t *app, const char *point_id, const char *date, const char *slot,
                   int version, const char *plan)
{
    md_point_t *p = md_point_find(app->state, point_id);
    int32_t day;
    int s = md_slot_parse(slot);
    if (!p || s < 0 || md_day_parse(date, &day) != 0)
        return -1;
    json_t *doc = json_loads(plan, 0, NULL);
    s_entry_t *e = doc ? s_entry(p, day, (md_slot_t)s, 1) : NULL;
    if (!e) {
        json_decref(doc);
        return -1;
    }
    json_decref(e->plan);
    e->plan = doc;
    e->version = e->next_version = version;
    return 0;
}

/* The stops' live state: what the courier reported since the plan; with
 * addresses, the door of each meal still to deliver (opened per request,
 * never stored in the plan). */
static void s_stop_status(md_app_t *app, json_t *plan, int addresses)
{
    size_t i, k, s;
    json_t *c, *r, *stop;
    json_array_foreach(json_object_get(plan, "couriers"), i, c)
        json_array_foreach(json_object_get(c, "rounds"), k, r)
            json_array_foreach(json_object_get(r, "stops"), s, stop) {
                md_meal_t *m = md_meal_find(app->state,
                                            json_string_value(json_object_get(stop, "order_id")));
                json_object_set_new(stop, "status",
                                    json_string(m ? md_status_name(m->status) : "unknown"));
                if (m && m->status == MD_MEAL_FAILED)
                    json_object_set_new(stop, "reason", json_string(m->fail_reason));
                if (addresses && m && m->status == MD_MEAL_SCHEDULED && m->address_sealed) {
                    char addr[CC_ADDRESS_MAX + 1];
                    if (md_meal_address(app, m, addr, sizeof addr) == 0)
                        json_object_set_new(stop, "address", json_string(addr));
                    sodium_memzero(addr, sizeof addr);
                }
            }
}

json_t *md_plan_json(md_app_t *app, const md_point_t *p, int32_t day, md_slot_t slot,
                     int64_t now_us, int addresses)
{
    s_entry_t *e = s_entry(p, day, slot, 0);
    json_t *o;
    if (e && e->plan) {
        o = json_deep_copy(e->plan);
        if (o)
            s_stop_status(app, o, addresses);
    } else {
        char date[16];
        o = json_pack("{s:s, s:s, s:s, s:[], s:[]}", "meal_point_id", p->id, "date",
                      md_day_format(day, date, sizeof date), "slot", md_slot_name(slot),
                      "couriers", "unserved");
    }
    if (!o)
        return NULL;
    char cut[48];
    const md_slot_conf_t *sc = &p->slots[slot];
    json_object_set_new(o, "cutoff", json_string(cc_time_format(md_cutoff_us(day,
                                                                               sc->cutoff_min),
                                                                  cut, sizeof cut)));
    json_object_set_new(o, "planned", json_boolean(e && e->plan));
    /* A plan is being made, or will be at the next tick (a late change). */
    json_object_set_new(o, "replanning", json_boolean(e && (e->planning || e->dirty)));
    (void)now_us;
    return o;
}
