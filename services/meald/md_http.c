/* md_http: meald's HTTP API. See md_http.h and docs/API-meald.md. */
#include "md_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"
#include "md_req.h"
#include "md_store.h"

static int s_not_ready(md_app_t *app, cc_http_req_t **req_p)
{
    if (app->loaded && !app->stopping)
        return 0;
    cc_http_reply_error(req_p, 503, "not_ready", NULL, "meald is starting or stopping");
    return 1;
}

/* Lower-case a UUID path parameter into out; 0 if valid. */
static int s_uuid_param(const char *in, char out[MD_ID_LEN])
{
    if (!in || !cc_uuid_valid(in))
        return -1;
    size_t i = 0;
    for (; in[i] && i < MD_ID_LEN - 1; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
    return 0;
}

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
    if (!md_store_ok(res))
        md_app_die(app, "md_create_point", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    const char *id = PQgetvalue(res, 0, 1);
    s_observe(app, c->req);
    if (strcmp(outcome, "created") == 0) {
        if (!md_point_add(app->state, &c->point))
            md_app_die(app, "md_point_add", NULL);
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

static void s_create_point(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    json_t *body = cc_http_json_body(req);
    if (!body)
        return;
    s_create_t *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(body);
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    cc_err_t err;
    if (md_req_point(body, &c->point, &err) != 0) {
        json_decref(body);
        free(c);
        cc_http_reply_err(&req, &err);
        return;
    }
    const char *idem = cc_http_header(req, "Idempotency-Key");
    if (idem) {
        size_t n = strlen(idem);
        if (n == 0 || n > MD_IDEM_MAX) {
            json_decref(body);
            free(c);
            cc_http_reply_error(&req, 400, "invalid_value", "Idempotency-Key",
                                "Idempotency-Key must be 1..128 characters");
            return;
        }
        snprintf(c->point.idem_key, sizeof c->point.idem_key, "%s", idem);
        md_req_hash(body, c->point.req_hash);
        md_point_t *prev = md_point_find_idem(app->state, idem);
        if (prev) {
            /* Committed before (memory only holds committed points). */
            int same = strcmp(prev->req_hash, c->point.req_hash) == 0;
            json_decref(body);
            free(c);
            if (same)
                s_reply_point_id(&req, 201, prev->id);
            else
                cc_http_reply_error(&req, 409, "idempotency_conflict", "Idempotency-Key",
                                    "this Idempotency-Key was used with a different body");
            return;
        }
    }
    json_decref(body);
    cc_uuid(c->point.id);
    if (c->point.provider_id[0] == '\0')   /* the point is its own provider */
        snprintf(c->point.provider_id, sizeof c->point.provider_id, "%s", c->point.id);
    c->app = app;
    c->req = req;
    if (md_store_create_point(app, &c->point, s_on_point_created, c) != 0)
        md_app_die(app, "queue_failed", NULL);
}

/* ---- GET /v1/meal-points[/{id}] ------------------------------------------ */
static void s_list_points(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    const char *d = cc_http_query(req, "district_id");
    long district = -1;
    if (d) {
        char *end = NULL;
        district = strtol(d, &end, 10);
        if (!*d || *end || district < 0 || district > INT32_MAX) {
            cc_http_reply_error(&req, 400, "invalid_value", "district_id",
                                "district_id must be a non-negative integer");
            return;
        }
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < md_point_count(app->state); i++) {
        const md_point_t *p = md_point_at(app->state, i);
        if (district >= 0 && p->district_id != (uint32_t)district)
            continue;
        json_array_append_new(arr, md_json_point(p));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "meal_points", arr));
}

static md_point_t *s_point_param(md_app_t *app, cc_http_req_t **req_p)
{
    char id[MD_ID_LEN];
    md_point_t *p = NULL;
    if (s_uuid_param(cc_http_path_param(*req_p, "id"), id) == 0)
        p = md_point_find(app->state, id);
    if (!p)
        cc_http_reply_error(req_p, 404, "unknown_meal_point", "id", "no such meal point");
    return p;
}

static void s_get_point(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    md_point_t *p = s_point_param(app, &req);
    if (p)
        cc_http_reply_json(&req, 200, md_json_point(p));
}

/* ---- GET /v1/meal-points/{id}/kitchen-list?date=&slot= -------------------- */
static void s_kitchen(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
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

/* ---- /v1/meals/{order_id} ------------------------------------------------- */
static md_meal_t *s_meal_param(md_app_t *app, cc_http_req_t **req_p)
{
    char id[MD_ID_LEN];
    md_meal_t *m = NULL;
    if (s_uuid_param(cc_http_path_param(*req_p, "order_id"), id) == 0)
        m = md_meal_find(app->state, id);
    if (!m)
        cc_http_reply_error(req_p, 404, "unknown_order", "order_id",
                            "no meal for this order");
    return m;
}

static void s_get_meal(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    md_meal_t *m = s_meal_param(app, &req);
    if (m)
        cc_http_reply_json(&req, 200, md_json_meal(m));
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
    if (!md_store_ok(res))
        md_app_die(app, "md_deliver", res);
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
            cc_http_reply_json(&d->req, 200, md_json_meal(m));
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
                            "the meal is not scheduled (refused or cancelled)");
    } else {
        cc_http_reply_error(&d->req, 404, "unknown_order", "order_id",
                            "no meal for this order");
    }
    free(d);
}

static void s_deliver(cc_http_req_t *req, void *arg)
{
    md_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    md_meal_t *m = s_meal_param(app, &req);
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
        cc_http_reply_json(&req, 200, md_json_meal(m));
        return;
    }
    if (m->status != MD_MEAL_SCHEDULED) {
        cc_http_reply_error(&req, 409,
                            m->status == MD_MEAL_CANCELLED ? "cancelled" : "not_scheduled",
                            "order_id",
                            m->status == MD_MEAL_CANCELLED ? "the meal order was cancelled"
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
    if (!payload || md_store_deliver(app, m->order_id, courier, at, out_id, payload, len,
                                     s_on_delivered, d) != 0)
        md_app_die(app, "queue_failed", NULL);
    free(payload);
}

static int s_ready(void *arg)
{
    md_app_t *app = arg;
    return app->loaded && !app->stopping && cc_db_connected(app->writer)
           && app->evlog && cc_evlog_ready(app->evlog)
           && app->orders && cc_consumer_caught_up(app->orders);
}

int md_http_routes(md_app_t *app)
{
    int rc = 0;
    rc |= cc_http_route(app->http, "POST", "/v1/meal-points", s_create_point, app);
    rc |= cc_http_route(app->http, "GET", "/v1/meal-points", s_list_points, app);
    rc |= cc_http_route(app->http, "GET", "/v1/meal-points/{id}", s_get_point, app);
    rc |= cc_http_route(app->http, "GET", "/v1/meal-points/{id}/kitchen-list", s_kitchen, app);
    rc |= cc_http_route(app->http, "GET", "/v1/meals/{order_id}", s_get_meal, app);
    rc |= cc_http_route(app->http, "POST", "/v1/meals/{order_id}/delivered", s_deliver, app);
    cc_http_set_ready(app->http, s_ready, app);
    return rc ? -1 : 0;
}
