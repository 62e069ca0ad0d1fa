/* md_http: meald's HTTP API. See md_http.h and docs/API-meald.md. */
#include "md_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"
#include "md_plan.h"
#include "md_req.h"
#include "md_store.h"

static void s_observe(md_app_t *app, cc_http_req_t *req)
{
    cc_metric_observe(app->m_http_s, cc_http_age_s(req));
}

/* ---- POST /v1/meal-points ------------------------------------------------ */
typedef struct {
    md_app_t *app;
    cc_http_req_t *req;
    md_point_t point;
} s_create_t;

static void s_reply_point_id(cc_http_req_t **req_p, int status, const char *id)
{
    cc_http_reply_json(req_p, status, json_pack("{s:s}", "meal_point_id", id));
}

static void s_on_point_created(PGresult *res, void *arg)
{
    s_create_t *c = arg;
    md_app_t *app = c->app;
    cc_err_t err;
    if (md_store_failed(&app->rt, "md_create_point", res, &err)) {
        s_observe(app, c->req);
        cc_http_reply_err(&c->req, &err);   /* memory takes a point once stored */
        free(c);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_create_point", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    const char *id = PQgetvalue(res, 0, 1);
    s_observe(app, c->req);
    if (strcmp(outcome, "created") == 0) {
        if (!md_point_add(app->state, &c->point))
            cc_rt_fatal("md_point_add", NULL);
        cc_metric_inc(app->m_points_created);
        md_app_gauges(app);
        cc_info("meal_point_created", "meal_point_id", id);
        s_reply_point_id(&c->req, 201, id);
    } else if (strcmp(outcome, "replay") == 0) {
        s_reply_point_id(&c->req, 201, id);
    } else {
        cc_http_reply_error(&c->req, 409, "idempotency_conflict", "Idempotency-Key",
                            "this Idempotency-Key was used with a different body");
    }
    free(c);
}

/* Slots as the parallel array literals md_create_point takes:
 * {lunch,dinner} {40,20} {600,930}. */
enum { S_SLOTS_LEN = 32, S_NUMS_LEN = 48 };
static void s_slot_arrays(const md_point_t *p, char slots[S_SLOTS_LEN], char caps[S_NUMS_LEN],
                          char cuts[S_NUMS_LEN])
{
    size_t a = 0, b = 0, c = 0;
    slots[a++] = '{';
    caps[b++] = '{';
    cuts[c++] = '{';
    for (int s = 0; s < MD_NSLOTS; s++) {
        const md_slot_conf_t *sc = &p->slots[s];
        if (!sc->offered)
            continue;
        const char *sep = (a > 1) ? "," : "";
        a += (size_t)snprintf(slots + a, S_SLOTS_LEN - a, "%s%s", sep, md_slot_name((md_slot_t)s));
        b += (size_t)snprintf(caps + b, S_NUMS_LEN - b, "%s%d", sep, sc->capacity);
        c += (size_t)snprintf(cuts + c, S_NUMS_LEN - c, "%s%d", sep, sc->cutoff_min);
    }
    snprintf(slots + a, S_SLOTS_LEN - a, "}");
    snprintf(caps + b, S_NUMS_LEN - b, "}");
    snprintf(cuts + c, S_NUMS_LEN - c, "}");
}

static void s_create_point(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    json_t *body = cc_http_json(req);   /* borrowed: checked by the route guard */
    s_create_t *c = calloc(1, sizeof *c);
    if (!c) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    cc_err_t err;
    if (md_req_point(body, &c->point, &err) != 0) {
        free(c);
        cc_http_reply_err(&req, &err);
        return;
    }
    const char *idem = cc_http_idem_key(req);   /* valid (cc_idem_key_valid) or NULL */
    if (idem) {
        snprintf(c->point.idem_key, sizeof c->point.idem_key, "%s", idem);
        md_req_hash(body, c->point.req_hash);
        md_point_t *prev = md_point_find_idem(app->state, idem);
        if (prev) {
            /* Committed before (memory only holds committed points). */
            int same = strcmp(prev->req_hash, c->point.req_hash) == 0;
            free(c);
            if (same)
                s_reply_point_id(&req, 201, prev->id);
            else
                cc_http_reply_error(&req, 409, "idempotency_conflict", "Idempotency-Key",
                                    "this Idempotency-Key was used with a different body");
            return;
        }
    }
    cc_uuid(c->point.id);
    if (c->point.provider_id[0] == '\0')   /* the point is its own provider */
        snprintf(c->point.provider_id, sizeof c->point.provider_id, "%s", c->point.id);
    c->app = app;
    c->req = req;
    const md_point_t *p = &c->point;
    char slots[S_SLOTS_LEN], caps[S_NUMS_LEN], cuts[S_NUMS_LEN];
    s_slot_arrays(p, slots, caps, cuts);
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_CREATE_POINT]);
    cc_args_text(&a, "id", p->id);
    cc_args_text(&a, "name", p->name);
    cc_args_text(&a, "provider", p->provider_id);
    cc_args_int(&a, "district", p->district_id);
    cc_args_float(&a, "lat", p->lat);
    cc_args_float(&a, "lon", p->lon);
    cc_args_text(&a, "slots", slots);
    cc_args_text(&a, "capacities", caps);
    cc_args_text(&a, "cutoffs", cuts);
    cc_args_text(&a, "idem", p->idem_key[0] ? p->idem_key : NULL);
    cc_args_text(&a, "hash", p->req_hash[0] ? p->req_hash : NULL);
    cc_args_int(&a, "hot_limit", p->hot_limit_min);
    if (cc_db_call(app->rt.writer, &a, s_on_point_created, c) != 0)
        cc_rt_fatal("queue_failed", NULL);
}

/* ---- GET /v1/meal-points[/{id}] ------------------------------------------ */
static void s_list_points(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    const char *d = cc_http_query(req, "district_id");
    long district = -1;
    if (d) {
        char *end = NULL;
        district = strtol(d, &end, 10);
        if (!*d || *end || district < CC_DISTRICT_MIN || district > CC_DISTRICT_MAX) {
            cc_http_reply_error(&req, 400, "invalid_value", "district_id",
                                "district_id must be a positive integer");
            return;
        }
    }
    const cc_jwt_claims_t *who = cc_http_claims(req);   /* a meal point sees itself */
    json_t *arr = json_array();
    for (size_t i = 0; i < md_point_count(app->state); i++) {
        const md_point_t *p = md_point_at(app->state, i);
        cc_scope_t scope = { .meal_point_id = p->id };
        if ((district >= 0 && p->district_id != (uint32_t)district)
            || cc_jwt_scope_check(who, &scope))
            continue;
        json_array_append_new(arr, md_json_point(p));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "meal_points", arr));
}

static md_point_t *s_point_param(md_app_t *app, cc_http_req_t **req_p)
{
    /* The route guard has checked and lower-cased it. */
    md_point_t *p = md_point_find(app->state, cc_http_path_param(*req_p, "id"));
    if (!p) {
        cc_http_reply_error(req_p, 404, "unknown_meal_point", "id", "no such meal point");
        return NULL;
    }
    cc_scope_t scope = { .meal_point_id = p->id };
    return cc_http_scope(req_p, &scope) == 0 ? p : NULL;
}

static void s_get_point(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_point_t *p = s_point_param(app, &req);
    if (p)
        cc_http_reply_json(&req, 200, md_json_point(p));
}

/* ---- GET /v1/meal-points/{id}/kitchen-list?date=&slot= -------------------- */
static void s_kitchen(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_point_t *p = s_point_param(app, &req);
    if (!p)
        return;
    int32_t day;
    md_slot_t slot;
    cc_err_t err;
    if (md_req_kitchen(cc_http_query(req, "date"), cc_http_query(req, "slot"), &day, &slot,
                       &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (!p->slots[slot].offered) {
        cc_http_reply_error(&req, 400, "invalid_value", "slot",
                            "this meal point does not serve that slot");
        return;
    }
    size_t n;
    md_meal_t *const *meals = md_bucket_meals(app->state, p, day, slot, &n);
    cc_http_reply_json(&req, 200, md_json_kitchen(p, day, slot, meals, n, cc_now_us()));
}

/* A point's scope for the routes that scoped roles other than meal_point
 * reach: a dispatcher by district, a provider admin by provider. */
static int s_point_scope(cc_http_req_t **req_p, const md_point_t *p)
{
    cc_scope_t scope = { .district_id = p->district_id, .provider_id = p->provider_id,
                         .meal_point_id = p->id };
    return cc_http_scope(req_p, &scope);
}

/* ---- GET /v1/meal-points/{id}/rounds?date=&slot= --------------------------- */
static void s_rounds(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_point_t *p = md_point_find(app->state, cc_http_path_param(req, "id"));
    if (!p) {
        cc_http_reply_error(&req, 404, "unknown_meal_point", "id", "no such meal point");
        return;
    }
    if (s_point_scope(&req, p) != 0)
        return;
    int32_t day;
    md_slot_t slot;
    cc_err_t err;
    if (md_req_kitchen(cc_http_query(req, "date"), cc_http_query(req, "slot"), &day, &slot,
                       &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (!p->slots[slot].offered) {
        cc_http_reply_error(&req, 400, "invalid_value", "slot",
                            "this meal point does not serve that slot");
        return;
    }
    /* The doors for the point that delivers (as GET /v1/meals/{id}). */
    const cc_jwt_claims_t *who = cc_http_claims(req);
    json_t *o = md_plan_json(app, p, day, slot, cc_now_us(),
                             who && who->role == CC_ROLE_MEAL_POINT);
    if (!o) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    cc_http_reply_json(&req, 200, o);
}

/* ---- POST /v1/couriers, GET /v1/couriers?meal_point_id= --------------------- */
typedef struct {
    md_app_t *app;
    cc_http_req_t *req;
    md_courier_t courier;
} s_courier_t;

static void s_reply_courier_id(cc_http_req_t **req_p, const char *id)
{
    cc_http_reply_json(req_p, 201, json_pack("{s:s}", "courier_id", id));
}

static void s_on_courier_created(PGresult *res, void *arg)
{
    s_courier_t *c = arg;
    md_app_t *app = c->app;
    cc_err_t err;
    s_observe(app, c->req);
    if (md_store_failed(&app->rt, "md_create_courier", res, &err)) {
        cc_http_reply_err(&c->req, &err);
        free(c);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_create_courier", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    const char *id = PQgetvalue(res, 0, 1);
    if (strcmp(outcome, "created") == 0) {
        if (!md_courier_add(app->state, &c->courier))
            cc_rt_fatal("md_courier_add", NULL);
        md_plan_point_changed(app, c->courier.point);
        cc_metric_inc(app->m_couriers_created);
        cc_info("courier_created", "courier_id", id, "meal_point_id", c->courier.point->id);
        s_reply_courier_id(&c->req, id);
    } else if (strcmp(outcome, "replay") == 0) {
        s_reply_courier_id(&c->req, id);
    } else {
        cc_http_reply_error(&c->req, 409, "idempotency_conflict", "Idempotency-Key",
                            "this Idempotency-Key was used with a different body");
    }
    free(c);
}

static void s_create_courier(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    json_t *body = cc_http_json(req);   /* borrowed: checked by the route guard */
    s_courier_t *c = calloc(1, sizeof *c);
    if (!c) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    char point_id[MD_ID_LEN];
    cc_err_t err;
    if (md_req_courier(body, &c->courier, point_id, &err) != 0) {
        free(c);
        cc_http_reply_err(&req, &err);
        return;
    }
    md_point_t *p = md_point_find(app->state, point_id);
    if (!p) {
        free(c);
        cc_http_reply_error(&req, 422, "unknown_meal_point", "meal_point_id",
                            "no such meal point");
        return;
    }
    /* A provider admin adds couriers to its provider's points, a meal point
     * to itself; a courier works for the point's provider unless told. */
    if (s_point_scope(&req, p) != 0) {
        free(c);
        return;
    }
    c->courier.point = p;
    if (c->courier.provider_id[0] == '\0')
        snprintf(c->courier.provider_id, sizeof c->courier.provider_id, "%s", p->provider_id);
    const char *idem = cc_http_idem_key(req);
    if (idem) {
        snprintf(c->courier.idem_key, sizeof c->courier.idem_key, "%s", idem);
        md_req_hash(body, c->courier.req_hash);
        md_courier_t *prev = md_courier_find_idem(app->state, idem);
        if (prev) {
            int same = strcmp(prev->req_hash, c->courier.req_hash) == 0;
            free(c);
            if (same)
                s_reply_courier_id(&req, prev->id);
            else
                cc_http_reply_error(&req, 409, "idempotency_conflict", "Idempotency-Key",
                                    "this Idempotency-Key was used with a different body");
            return;
        }
    }
    cc_uuid(c->courier.id);
    c->app = app;
    c->req = req;
    const md_courier_t *k = &c->courier;
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_CREATE_COURIER]);
    cc_args_text(&a, "id", k->id);
    cc_args_text(&a, "point", p->id);
    cc_args_text(&a, "provider", k->provider_id);
    cc_args_text(&a, "name", k->name);
    cc_args_text(&a, "vehicle", md_vehicle_name(k->vehicle));
    cc_args_float(&a, "speed", k->speed_kmh);
    cc_args_int(&a, "capacity", k->capacity);
    cc_args_int(&a, "shift_start", k->shift_start_min);
    cc_args_int(&a, "shift_end", k->shift_end_min);
    cc_args_text(&a, "idem", k->idem_key[0] ? k->idem_key : NULL);
    cc_args_text(&a, "hash", k->req_hash[0] ? k->req_hash : NULL);
    if (cc_db_call(app->rt.writer, &a, s_on_courier_created, c) != 0)
        cc_rt_fatal("queue_failed", NULL);
}

static void s_list_couriers(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    const char *pid = cc_http_query(req, "meal_point_id");
    char id[MD_ID_LEN];
    if (!pid || !*pid) {
        cc_http_reply_error(&req, 400, "missing_field", "meal_point_id",
                            "meal_point_id is required");
        return;
    }
    if (cc_uuid_norm(pid, id) != 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "meal_point_id",
                            "meal_point_id must be a UUID");
        return;
    }
    md_point_t *p = md_point_find(app->state, id);
    if (!p) {
        cc_http_reply_error(&req, 404, "unknown_meal_point", "meal_point_id",
                            "no such meal point");
        return;
    }
    if (s_point_scope(&req, p) != 0)
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < md_courier_count(app->state); i++) {
        const md_courier_t *c = md_courier_at(app->state, i);
        if (c->point == p)
            json_array_append_new(arr, md_json_courier(c));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "couriers", arr));
}

/* ---- /v1/meals/{order_id} ------------------------------------------------- */
/* The meal of the order in the path, or NULL having taken the request: 404,
 * 403 (scope), or parked until orderd's log has caught up (the order may
 * have been released a moment ago; then handler runs again: cc_rt_await). */
static md_meal_t *s_meal_param(md_app_t *app, cc_http_req_t **req_p, cc_http_fn *handler)
{
    md_meal_t *m = md_meal_find(app->state, cc_http_path_param(*req_p, "order_id"));
    if (!m) {
        if (cc_rt_await(&app->rt, req_p, "orderd", handler))
            return NULL;
        cc_http_reply_error(req_p, 404, "unknown_order", "order_id",
                            "no meal for this order");
        return NULL;
    }
    /* A meal point handles its own meals only (a refused one has none). */
    cc_scope_t scope = { .meal_point_id = m->point ? m->point->id : NULL };
    return cc_http_scope(req_p, &scope) == 0 ? m : NULL;
}

/* The meal with its delivery deadline (the app knows the rules). */
static json_t *s_meal_json(md_app_t *app, const md_meal_t *m, int64_t now)
{
    json_t *o = md_json_meal(m);
    if (o)
        json_object_set_new(o, "deadline",
                            md_json_deadline(m, &app->deadlines[m->slot], now));
    return o;
}

static void s_get_meal(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_meal_t *m = s_meal_param(app, &req, s_get_meal);
    if (!m)
        return;
    json_t *o = s_meal_json(app, m, cc_now_us());
    /* The elder's door, for the meal point that delivers it (its scope
     * passed) while the meal is to be delivered: not the operator, who has
     * it in orderd (issue 10, "Personal data"). The route is CC_ROUTE_PII:
     * the read is audited. */
    const cc_jwt_claims_t *who = cc_http_claims(req);
    if (o && who && who->role == CC_ROLE_MEAL_POINT && m->status == MD_MEAL_SCHEDULED
        && m->address_sealed) {
        char addr[CC_ADDRESS_MAX + 1];
        if (md_meal_address(app, m, addr, sizeof addr) == 0)
            json_object_set_new(o, "address", json_string(addr));
        sodium_memzero(addr, sizeof addr);
    }
    cc_http_reply_json(&req, 200, o);
}

/* ---- GET /v1/meals/overdue ------------------------------------------------
 * Scheduled meals past their due time, the soonest resolution first: the
 * warning stage before the sweep makes them undelivered. A meal point sees
 * its own, a dispatcher their districts. */
typedef struct {
    md_meal_t *m;
    int64_t resolve_us;
} s_overdue_t;

static int s_overdue_cmp(const void *a, const void *b)
{
    const s_overdue_t *x = a, *y = b;
    if (x->resolve_us != y->resolve_us)
        return x->resolve_us < y->resolve_us ? -1 : 1;
    return strcmp(x->m->order_id, y->m->order_id);
}

static void s_overdue(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    const cc_jwt_claims_t *who = cc_http_claims(req);
    int64_t now = cc_now_us();
    size_t n;
    md_meal_t *const *open = md_open_meals(app->state, &n);
    s_overdue_t *list = n ? malloc(n * sizeof *list) : NULL;
    if (n && !list) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        md_meal_t *m = open[i];
        int64_t resolve;
        if (md_meal_due(m, &app->deadlines[m->slot], now, NULL, &resolve) < MD_DUE_OVERDUE)
            continue;
        cc_scope_t scope = { .district_id = m->district_id,
                             .meal_point_id = m->point ? m->point->id : NULL };
        if (cc_jwt_scope_check(who, &scope))
            continue;
        list[k++] = (s_overdue_t) { m, resolve };
    }
    if (k)
        qsort(list, k, sizeof *list, s_overdue_cmp);
    json_t *arr = json_array();
    for (size_t i = 0; i < k && i < 1000; i++)   /* a bounded answer */
        json_array_append_new(arr, s_meal_json(app, list[i].m, now));
    free(list);
    cc_http_reply_json(&req, 200, json_pack("{s:I, s:o}", "count", (json_int_t)k, "meals", arr));
}

typedef struct {
    md_app_t *app;
    cc_http_req_t *req;
    char order_id[MD_ID_LEN];
} s_deliver_t;

static void s_on_delivered(PGresult *res, void *arg)
{
    s_deliver_t *d = arg;
    md_app_t *app = d->app;
    cc_err_t err;
    if (md_store_failed(&app->rt, "md_deliver", res, &err)) {
        s_observe(app, d->req);
        cc_http_reply_err(&d->req, &err);   /* memory delivers once stored */
        free(d);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_deliver", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    md_meal_t *m = md_meal_find(app->state, d->order_id);
    s_observe(app, d->req);
    if (strcmp(outcome, "applied") == 0 || strcmp(outcome, "already") == 0) {
        int64_t at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        if (m && md_meal_deliver(app->state, m, at, PQgetvalue(res, 0, 2)) == 0
            && strcmp(outcome, "applied") == 0) {
            cc_metric_inc(app->m_delivered);
            cc_info("meal_delivered", "order_id", d->order_id);
        }
        md_app_gauges(app);
        if (m) {
            cc_http_reply_json(&d->req, 200, s_meal_json(app, m, cc_now_us()));
        } else {
            char buf[48];
            cc_http_reply_json(&d->req, 200,
                               json_pack("{s:s, s:s, s:s}", "order_id", d->order_id,
                                         "status", "delivered", "delivered_at",
                                         cc_time_format(at, buf, sizeof buf)));
        }
    } else if (strcmp(outcome, "not_scheduled") == 0) {
        cc_warn("meal_deliver_disagrees", "order_id", d->order_id);
        cc_http_reply_error(&d->req, 409, "not_scheduled", "order_id",
                            "the meal is not scheduled (refused, cancelled or past its "
                            "delivery deadline)");
    } else {
        cc_http_reply_error(&d->req, 404, "unknown_order", "order_id",
                            "no meal for this order");
    }
    free(d);
}

static void s_deliver(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_meal_t *m = s_meal_param(app, &req, s_deliver);
    if (!m)
        return;
    size_t blen = 0;
    const char *raw = cc_http_body(req, &blen);
    json_t *body = NULL;
    int blank = 1;
    for (size_t i = 0; raw && i < blen; i++)
        if (!isspace((unsigned char)raw[i]))
            blank = 0;
    if (!blank && !(body = cc_http_json_body(req)))
        return;
    int64_t now = cc_now_us(), at;
    char courier[MD_COURIER_MAX + 1];
    cc_err_t err;
    int rc = md_req_delivered(body, now, &at, courier, &err);
    json_decref(body);
    if (rc != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (m->status == MD_MEAL_DELIVERED) {
        /* Idempotent: the stored delivery, whatever this call carried. */
        cc_http_reply_json(&req, 200, s_meal_json(app, m, cc_now_us()));
        return;
    }
    if (m->status != MD_MEAL_SCHEDULED) {
        cc_http_reply_error(&req, 409,
                            m->status == MD_MEAL_CANCELLED ? "cancelled" : "not_scheduled",
                            "order_id",
                            m->status == MD_MEAL_CANCELLED     ? "the meal order was cancelled"
                            : m->status == MD_MEAL_UNDELIVERED ? "the meal passed its "
                                                                 "delivery deadline"
                                                               : "the meal order was refused");
        return;
    }
    s_deliver_t *d = calloc(1, sizeof *d);
    if (!d) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    d->app = app;
    d->req = req;
    snprintf(d->order_id, sizeof d->order_id, "%s", m->order_id);
    Cc__MealDelivered ev = CC__MEAL_DELIVERED__INIT;
    ev.order_id = m->order_id;
    ev.meal_point_id = m->point->id;
    ev.provider_id = m->point->provider_id;
    ev.delivered_us = at;
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&ev.base, &len);
    char out_id[CC_UUID_LEN];
    cc_uuid(out_id);
    if (!payload)
        cc_rt_fatal("out_of_memory", NULL);
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_DELIVER]);
    cc_args_text(&a, "order_id", m->order_id);
    cc_args_text(&a, "courier", courier[0] ? courier : NULL);
    cc_args_int(&a, "at_us", at);
    cc_args_text(&a, "out_id", out_id);
    cc_args_bytes(&a, "payload", payload, len);
    if (cc_db_call(app->rt.writer, &a, s_on_delivered, d) != 0)
        cc_rt_fatal("queue_failed", NULL);
    free(payload);
}

/* ---- POST /v1/meals/{order_id}/failed -------------------------------------
 * The courier could not hand the meal over (absent, refused): the meal
 * fails and tells orderd as an undelivered meal does (MealRefused with the
 * reason), so orderd fails the order and billing releases the hold. */
static void s_on_failed(PGresult *res, void *arg)
{
    s_deliver_t *d = arg;
    md_app_t *app = d->app;
    cc_err_t err;
    s_observe(app, d->req);
    if (md_store_failed(&app->rt, "md_fail", res, &err)) {
        cc_http_reply_err(&d->req, &err);   /* memory fails it once stored */
        free(d);
        return;
    }
    if (!md_store_ok(res))
        cc_rt_fatal("md_fail", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    md_meal_t *m = md_meal_find(app->state, d->order_id);
    if (strcmp(outcome, "applied") == 0 || strcmp(outcome, "already") == 0) {
        if (m && md_meal_fail(app->state, m, cc_now_us(), PQgetvalue(res, 0, 1)) == 0) {
            cc_metric_inc(app->m_failed);
            cc_info("meal_failed", "order_id", d->order_id, "reason", m->fail_reason);
        }
        md_app_gauges(app);
        if (m)
            cc_http_reply_json(&d->req, 200, s_meal_json(app, m, cc_now_us()));
        else
            cc_http_reply_json(&d->req, 200, json_pack("{s:s, s:s, s:s}", "order_id",
                                                       d->order_id, "status", "failed",
                                                       "reason", PQgetvalue(res, 0, 1)));
    } else if (strcmp(outcome, "not_scheduled") == 0) {
        cc_http_reply_error(&d->req, 409, "not_scheduled", "order_id",
                            "the meal is not scheduled (refused, cancelled, delivered or "
                            "past its delivery deadline)");
    } else {
        cc_http_reply_error(&d->req, 404, "unknown_order", "order_id", "no meal for this order");
    }
    free(d);
}

static void s_fail(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    md_meal_t *m = s_meal_param(app, &req, s_fail);
    if (!m)
        return;
    const char *reason = NULL;
    cc_err_t err;
    if (md_req_failed(cc_http_json(req), &reason, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (m->status == MD_MEAL_FAILED) {
        /* Idempotent: the stored failure, whatever this call carried. */
        cc_http_reply_json(&req, 200, s_meal_json(app, m, cc_now_us()));
        return;
    }
    if (m->status != MD_MEAL_SCHEDULED) {
        cc_http_reply_error(&req, 409,
                            m->status == MD_MEAL_CANCELLED ? "cancelled" : "not_scheduled",
                            "order_id", m->status == MD_MEAL_DELIVERED
                                            ? "the meal was delivered"
                                            : "the meal is not scheduled (refused, cancelled "
                                              "or past its delivery deadline)");
        return;
    }
    s_deliver_t *d = calloc(1, sizeof *d);
    if (!d) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    d->app = app;
    d->req = req;
    snprintf(d->order_id, sizeof d->order_id, "%s", m->order_id);
    Cc__MealRefused ev = CC__MEAL_REFUSED__INIT;
    ev.order_id = m->order_id;
    ev.reason = (char *)reason;
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&ev.base, &len);
    if (!payload)
        cc_rt_fatal("out_of_memory", NULL);
    char out_id[CC_UUID_LEN];
    cc_uuid(out_id);
    cc_args_t a;
    cc_args_init(&a, &md_stmts[MD_ST_FAIL]);
    cc_args_text(&a, "order_id", m->order_id);
    cc_args_text(&a, "reason", reason);
    cc_args_int(&a, "at_us", cc_now_us());
    cc_args_text(&a, "out_id", out_id);
    cc_args_bytes(&a, "payload", payload, len);
    if (cc_db_call(app->rt.writer, &a, s_on_failed, d) != 0)
        cc_rt_fatal("queue_failed", NULL);
    free(payload);
}

#define OPERATOR CC_ROLE_OPERATOR
#define DISPATCHER CC_ROLE_DISPATCHER
#define MEAL_POINT CC_ROLE_MEAL_POINT
#define ADMIN CC_ROLE_ADMIN
#define PROVIDER_ADMIN CC_ROLE_PROVIDER_ADMIN
#define AUDITOR CC_ROLE_AUDITOR

/* Who may call what (roles; docs/API.md is generated from this table). A
 * meal_point account sees and serves its own point only (s_point_param,
 * s_meal_param). An elder's diet is health data: CC_ROUTE_PII (audited). */
const cc_http_route_t md_http_routes[] = {
    { "POST", "/v1/meal-points", s_create_point, CC_ROUTE_JSON | CC_ROUTE_IDEM_OPT, ADMIN },
    { "GET", "/v1/meal-points", s_list_points, 0, OPERATOR | MEAL_POINT | ADMIN },
    { "GET", "/v1/meal-points/{id}", s_get_point, 0, OPERATOR | MEAL_POINT | ADMIN },
    { "GET", "/v1/meal-points/{id}/kitchen-list", s_kitchen, CC_ROUTE_PII, MEAL_POINT },
    { "GET", "/v1/meals/overdue", s_overdue, 0, OPERATOR | DISPATCHER | MEAL_POINT },
    { "GET", "/v1/meals/{order_id}", s_get_meal, CC_ROUTE_PII, OPERATOR | MEAL_POINT },
    /* Not CC_ROUTE_JSON: the body is optional (empty means "now, no courier"). */
    { "POST", "/v1/meals/{order_id}/delivered", s_deliver, 0, MEAL_POINT },
    { "POST", "/v1/meals/{order_id}/failed", s_fail, CC_ROUTE_JSON, MEAL_POINT },
    /* Couriers and rounds: a provider admin its provider's points, a meal
     * point itself, a dispatcher its districts (s_point_scope). A courier's
     * name is personal data, an elder's diet health data: audited. */
    { "POST", "/v1/couriers", s_create_courier, CC_ROUTE_JSON | CC_ROUTE_IDEM_OPT,
      ADMIN | PROVIDER_ADMIN | MEAL_POINT },
    { "GET", "/v1/couriers", s_list_couriers, CC_ROUTE_PII,
      ADMIN | PROVIDER_ADMIN | MEAL_POINT | DISPATCHER | AUDITOR },
    { "GET", "/v1/meal-points/{id}/rounds", s_rounds, CC_ROUTE_PII,
      MEAL_POINT | PROVIDER_ADMIN | DISPATCHER | ADMIN | AUDITOR },
    { NULL, NULL, NULL, 0, 0 },
};
