/* od_http: orderd's call-centre API (docs/API-orderd.md). Writes are
 * decided against the working set and answered from the writer's result
 * callback (after COMMIT); reads go to the reader connection. */
#include "od_http.h"
#include "od_pii.h"
#include "od_store.h"
#include "od_auth.h"
#include "od_assess.h"
#include "od_elders.h"
#include "od_alarm.h"
#include "od_plans.h"
#include "od_duties.h"
#include "cc_jwt.h"
#include "cc_event.h"
#include "cc_log.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <inttypes.h>

static cc_metric_t *s_m_latency;

static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error(req, 503, "unavailable", NULL, "the store could not answer; retry");
}

/* ---- elders ------------------------------------------------------------------------ */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char id[CC_UUID_LEN];
    int32_t district_id;
    double lat, lon;
    int by, bm, bd;
    int ability, household, living;
    char *diet;
    uint8_t *address;        /* sealed as stored: memory keeps it (od_elder_t) */
    size_t address_len;
} s_elder_ctx_t;

static void s_on_elder_created(PGresult *res, void *arg)
{
    s_elder_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_elder_create", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);   /* memory takes an elder only once stored */
        free(x->diet);
        free(x->address);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_elder_create", res);
    if (strcmp(PQgetvalue(res, 0, 0), "created") == 0) {
        od_elder_t *e = od_app_add_elder(x->app, x->id);
        if (!e) {
            cc_error("out_of_memory", "what", "elder");
            exit(1);
        }
        e->district_id = x->district_id;
        e->lat = x->lat;
        e->lon = x->lon;
        e->birth_y = x->by;
        e->birth_m = x->bm;
        e->birth_d = x->bd;
        e->ability = (uint8_t)x->ability;
        e->household = (uint8_t)x->household;
        e->living = (uint8_t)x->living;
        free(e->diet);
        e->diet = x->diet;
        x->diet = NULL;
        od_app_elder_address(e, x->address, x->address_len);
        cc_info("elder_created", "elder_id", x->id);
        json_t *body = json_object();
        json_object_set_new(body, "elder_id", json_string(x->id));
        cc_http_reply_json(&x->req, 201, body);
    } else {
        /* The existing record's id lets the caller carry on with it. */
        json_t *body = json_object();
        json_object_set_new(body, "error", json_string("duplicate"));
        json_object_set_new(body, "field", json_string("id_number"));
        json_object_set_new(body, "message",
                            json_string("an elder with this id_number is already registered"));
        json_object_set_new(body, "elder_id", json_string(PQgetvalue(res, 0, 1)));
        cc_http_reply_json(&x->req, 409, body);
    }
    free(x->diet);
    free(x->address);
    free(x);
}

static void s_post_elder(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    json_t *body = cc_http_json(req);   /* borrowed: r's strings point into it */
    od_elder_req_t r;
    cc_err_t err;
    if (od_elder_req_from_json(body, cc_now_us(), &r, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_elder_ctx_t *x = calloc(1, sizeof *x);
    char *diet = strdup(r.diet);
    if (!x || !diet) {
        cc_error("out_of_memory", "what", "elder");
        exit(1);
    }
    x->app = app;
    x->req = req;
    cc_uuid(x->id);
    x->district_id = (int32_t)r.district_id;
    x->lat = r.lat;
    x->lon = r.lon;
    x->by = r.birth_y;
    x->bm = r.birth_m;
    x->bd = r.birth_d;
    x->ability = r.ability;
    x->household = r.household;
    x->living = r.living;
    x->diet = diet;
    char idn[19];
    snprintf(idn, sizeof idn, "%s", r.id_number);
    if (idn[17] == 'x')
        idn[17] = 'X';
    /* Personal data leaves orderd's memory sealed only (od_pii.h): bound
     * to this elder's id and its column; lookups go by the blind index. */
    const char *cols[4] = { "name", "id_number", "phone", "address" };
    const char *vals[4] = { r.name, idn, r.phone, r.address };
    uint8_t *sealed[4];
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        sealed[i] = od_pii_seal(app->pii, x->id, cols[i], vals[i], strlen(vals[i]), &lens[i]);
        if (!sealed[i]) {
            cc_error("out_of_memory", "what", "elder");
            exit(1);
        }
    }
    uint8_t idn_idx[OD_PII_IDX_LEN], phone_idx[OD_PII_IDX_LEN];
    uint8_t name_idx[OD_PII_IDX_LEN], address_idx[OD_PII_IDX_LEN];
    od_pii_index(app->pii, "id_number", idn, idn_idx);
    od_pii_index(app->pii, "phone", r.phone, phone_idx);
    od_pii_index(app->pii, "name", r.name, name_idx);
    od_pii_index(app->pii, "address", r.address, address_idx);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ELDER_CREATE]);
    cc_args_text(&a, "id", x->id);
    cc_args_int(&a, "district", r.district_id);
    cc_args_int(&a, "key", od_pii_active_id(app->pii));
    cc_args_bytes(&a, "name", sealed[0], lens[0]);
    cc_args_bytes(&a, "name_idx", name_idx, sizeof name_idx);
    cc_args_bytes(&a, "id_number", sealed[1], lens[1]);
    cc_args_bytes(&a, "id_number_idx", idn_idx, sizeof idn_idx);
    cc_args_bytes(&a, "phone", sealed[2], lens[2]);
    cc_args_bytes(&a, "phone_idx", phone_idx, sizeof phone_idx);
    cc_args_bytes(&a, "address", sealed[3], lens[3]);
    cc_args_bytes(&a, "address_idx", address_idx, sizeof address_idx);
    cc_args_float(&a, "lat", r.lat);
    cc_args_float(&a, "lon", r.lon);
    cc_args_text(&a, "birth", r.birth_date);
    cc_args_text(&a, "ability", od_ability_names[r.ability]);
    cc_args_text(&a, "household", od_household_names[r.household]);
    cc_args_text(&a, "living", od_living_names[r.living]);
    if (r.disability_grade)
        cc_args_int(&a, "disability", r.disability_grade);
    else
        cc_args_null(&a, "disability");
    cc_args_text(&a, "diet", r.diet);
    if (cc_db_call(app->rt.writer, &a, s_on_elder_created, x) != 0) {
        cc_error("db_queue_failed", "what", "od_elder_create");
        exit(1);
    }
    x->address = sealed[3];   /* memory keeps it once stored */
    x->address_len = lens[3];
    for (int i = 0; i < 3; i++)
        free(sealed[i]);   /* cc_db copied them */
}

/* ---- one row by id: elder, card, order ------------------------------------------------ */
typedef struct {
    od_st_t stmt;              /* statement taking the id */
    const char *what;          /* "elder", "card", "order": path and error text */
    json_t *(*json)(PGresult *res, int row);
} s_getter_t;

typedef struct {
    cc_http_req_t *req;
    const s_getter_t *g;
} s_get_t;

static void s_on_one_read(PGresult *res, void *arg)
{
    s_get_t *x = arg;
    cc_http_req_t *req = x->req;
    const s_getter_t *g = x->g;
    free(x);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, g->what, res);
        return;
    }
    if (PQntuples(res) != 1) {
        char msg[64];
        snprintf(msg, sizeof msg, "no %s with this id", g->what);
        cc_http_reply_error(&req, 404, "not_found", "id", msg);
        return;
    }
    cc_http_reply_json(&req, 200, g->json(res, 0));
}

static void s_get_one(cc_http_req_t *req, od_app_t *app, const s_getter_t *g)
{
    s_get_t *x = malloc(sizeof *x);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[g->stmt]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    if (x) {
        x->req = req;
        x->g = g;
    }
    if (!x || cc_db_call(app->rt.reader, &a, s_on_one_read, x) != 0) {
        free(x);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
    }
}

static json_t *s_order_json(PGresult *res, int row)
{
    return od_store_order_json(res, row, 1);   /* with its history */
}

static const s_getter_t s_elder_getter = { OD_ST_ELDER_GET, "elder", od_store_elder_json };
static const s_getter_t s_card_getter = { OD_ST_CARD_GET, "card", od_store_card_json };
static const s_getter_t s_order_getter = { OD_ST_ORDER_GET, "order", s_order_json };

/* A family account reads its own elder's card and orders only. The card's
 * elder comes from the working set; a card not there is out of scope
 * (fail closed). 0, or -1 having answered 403. */
static int s_family_card(od_app_t *app, cc_http_req_t **req, const char *card_id)
{
    const cc_jwt_claims_t *who = cc_http_claims(*req);
    if (!who || who->role != CC_ROLE_FAMILY)
        return 0;
    od_card_t *c = card_id ? cc_map_get(app->cards, card_id) : NULL;
    cc_scope_t scope = { .elder_id = c && c->elder ? c->elder->id : NULL };
    return cc_http_scope(req, &scope);
}

static void s_get_elder(cc_http_req_t *req, void *arg)
{
    s_get_one(req, arg, &s_elder_getter);
}

static void s_get_card(cc_http_req_t *req, void *arg)
{
    if (s_family_card(arg, &req, cc_http_path_param(req, "id")) == 0)
        s_get_one(req, arg, &s_card_getter);
}

static void s_get_order(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_order_t *o = cc_map_get(app->orders, cc_http_path_param(req, "id"));
    if (s_family_card(app, &req, o && o->card ? o->card->id : NULL) == 0)
        s_get_one(req, arg, &s_order_getter);
}

/* ---- cards --------------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char card_id[CC_UUID_LEN];
    char elder_id[CC_UUID_LEN];
    int status;
    json_t *body;                /* the 201 reply, until the token is known */
} s_card_ctx_t;

/* billingd learns the card from our log: the reply carries the token
 * (cc_rt_token) with which a top-up right after waits exactly for it. */
static void s_on_card_token(void *arg, const char *token)
{
    s_card_ctx_t *x = arg;
    if (token)
        cc_http_reply_json_hdr(&x->req, 201, x->body, CC_RT_AFTER_HEADER, token);
    else
        cc_http_reply_json(&x->req, 201, x->body);
    free(x);
}

static void s_on_card_issued(PGresult *res, void *arg)
{
    s_card_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_card_issue", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);   /* memory takes a card only once stored */
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_card_issue", res);
    od_elder_t *e = cc_map_get(x->app->elders, x->elder_id);
    if (strcmp(PQgetvalue(res, 0, 0), "created") == 0 && e) {
        if (!od_app_add_card(x->app, x->card_id, e, OD_CARD_ACTIVE)) {
            cc_error("out_of_memory", "what", "card");
            exit(1);
        }
        cc_info("card_issued", "card_id", x->card_id, "elder_id", x->elder_id);
        json_t *body = json_object();
        json_object_set_new(body, "card_id", json_string(x->card_id));
        json_object_set_new(body, "elder_id", json_string(x->elder_id));
        json_object_set_new(body, "status", json_string("active"));
        x->body = body;
        if (cc_rt_token(&x->app->rt, s_on_card_token, x) == 0)
            return;
        x->body = NULL;
        cc_http_reply_json(&x->req, 201, body);
    } else {
        cc_http_reply_error(&x->req, 422, "unknown_elder", "elder_id", "no elder with this elder_id");
    }
    free(x);
}

static void s_post_card(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    json_t *body = cc_http_json(req);
    char elder_id[CC_UUID_LEN];
    cc_err_t err;
    if (od_card_req_from_json(body, elder_id, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    od_elder_t *e = cc_map_get(app->elders, elder_id);
    if (!e) {
        cc_http_reply_error(&req, 422, "unknown_elder", "elder_id", "no elder with this elder_id");
        return;
    }
    s_card_ctx_t *x = cc_xcalloc(sizeof *x, "card");
    x->app = app;
    x->req = req;
    cc_uuid(x->card_id);
    snprintf(x->elder_id, sizeof x->elder_id, "%s", e->id);
    char event_id[CC_UUID_LEN];
    cc_uuid(event_id);
    Cc__CardIssued m = CC__CARD_ISSUED__INIT;
    m.card_id = x->card_id;
    m.elder_id = x->elder_id;
    m.district_id = (uint32_t)e->district_id;
    m.household = (char *)od_household_names[e->household];
    m.age_years = od_app_age_years(e, cc_now_us());
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&m.base, &len);
    if (!payload) {
        cc_error("out_of_memory", "what", "card");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_CARD_ISSUE]);
    cc_args_text(&a, "card", x->card_id);
    cc_args_text(&a, "elder", x->elder_id);
    cc_args_text(&a, "event_id", event_id);
    cc_args_bytes(&a, "payload", payload, len);
    if (cc_db_call(app->rt.writer, &a, s_on_card_issued, x) != 0) {
        cc_error("db_queue_failed", "what", "od_card_issue");
        exit(1);
    }
    free(payload);
}

static void s_on_card_status(PGresult *res, void *arg)
{
    s_card_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_card_set_status", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);   /* the status changes in memory once stored */
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_card_set_status", res);
    if (strcmp(PQgetvalue(res, 0, 0), "unknown_card") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no card with this id");
    } else {
        od_card_t *c = cc_map_get(x->app->cards, x->card_id);
        if (c)
            c->status = (od_card_status_t)x->status;
        cc_info("card_status", "card_id", x->card_id, "status", od_card_status_names[x->status]);
        json_t *body = json_object();
        json_object_set_new(body, "card_id", json_string(x->card_id));
        json_object_set_new(body, "status", json_string(od_card_status_names[x->status]));
        cc_http_reply_json(&x->req, 200, body);
    }
    free(x);
}

static void s_post_card_status(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_card_t *c = cc_map_get(app->cards, cc_http_path_param(req, "id"));
    if (!c) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no card with this id");
        return;
    }
    int status = 0;
    cc_err_t err;
    if (od_card_status_from_json(cc_http_json(req), &status, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_card_ctx_t *x = cc_xcalloc(sizeof *x, "card");
    x->app = app;
    x->req = req;
    x->status = status;
    snprintf(x->card_id, sizeof x->card_id, "%s", c->id);
    char event_id[CC_UUID_LEN];
    cc_uuid(event_id);
    Cc__CardStatusChanged m = CC__CARD_STATUS_CHANGED__INIT;
    m.card_id = x->card_id;
    m.status = (char *)od_card_status_names[status];
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&m.base, &len);
    if (!payload) {
        cc_error("out_of_memory", "what", "card");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_CARD_SET_STATUS]);
    cc_args_text(&a, "card", x->card_id);
    cc_args_text(&a, "status", od_card_status_names[status]);
    cc_args_text(&a, "event_id", event_id);
    cc_args_bytes(&a, "payload", payload, len);
    if (cc_db_call(app->rt.writer, &a, s_on_card_status, x) != 0) {
        cc_error("db_queue_failed", "what", "od_card_set_status");
        exit(1);
    }
    free(payload);
}

/* ---- orders ----------------------------------------------------------------------------- */
static void s_on_order_placed(void *ctx, int status, const char *order_id, const char *state,
                              const cc_err_t *err)
{
    cc_http_req_t *req = ctx;
    cc_metric_observe(s_m_latency, cc_http_age_s(req));
    if (status >= 400) {
        cc_http_reply_err(&req, err);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "order_id", json_string(order_id));
    json_object_set_new(body, "state", json_string(state));
    cc_http_reply_json(&req, status, body);
}

static void s_post_order(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_order_req_t r;
    cc_err_t err;
    int rc = od_order_req_from_json(cc_http_json(req), cc_http_idem_key(req), cc_now_us(), &r,
                                    &err);
    if (rc != 0) {
        od_app_count_invalid();
        cc_http_reply_err(&req, &err);
        return;
    }
    od_app_place(app, &r, "http", s_on_order_placed, req);
}

static void s_on_orders_read(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "orders", res);
        return;
    }
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, od_store_order_json(res, r, 0));
    json_t *body = json_object();
    json_object_set_new(body, "orders", list);
    cc_http_reply_json(&req, 200, body);
}

static void s_get_orders(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    int bad = 0;
    const char *card = cc_http_query_id(req, "card_id", &bad);
    if (bad)
        return;
    /* One elder's orders (mandated ones with ?mandated=true): od_duties. */
    const char *elder = cc_http_query_id(req, "elder_id", &bad);
    if (bad)
        return;
    if (elder && *elder) {
        const cc_jwt_claims_t *who = cc_http_claims(req);
        cc_scope_t scope = { .elder_id = elder };
        if (who && who->role == CC_ROLE_FAMILY && cc_http_scope(&req, &scope) != 0)
            return;
        od_duties_list_orders(req, app, elder);
        return;
    }
    const char *state = cc_http_query(req, "state");
    const char *limit_s = cc_http_query(req, "limit");
    if (card && !*card)
        card = NULL;
    if (s_family_card(app, &req, card) != 0)
        return;
    if (state && !*state)
        state = NULL;
    if (state && od_state_parse(state) < 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "state", "unknown state");
        return;
    }
    long limit = 50;
    if (limit_s && *limit_s) {
        char *end = NULL;
        errno = 0;
        limit = strtol(limit_s, &end, 10);
        if (errno || *end || limit < 1 || limit > 500) {
            cc_http_reply_error(&req, 400, "invalid_value", "limit",
                                "limit must be an integer 1..500");
            return;
        }
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[card ? OD_ST_ORDER_LIST_CARD
                               : state ? OD_ST_ORDER_LIST_STATE : OD_ST_ORDER_LIST_ALL]);
    if (card) {
        cc_args_text(&a, "card", card);
        cc_args_text(&a, "state", state);
    } else if (state) {
        cc_args_text(&a, "state", state);
    }
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(app->rt.reader, &a, s_on_orders_read, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char order_id[CC_UUID_LEN];
    int stepped;
} s_cancel_ctx_t;

static void s_cancel_reply(cc_http_req_t **req, const char *order_id, const char *state)
{
    json_t *body = json_object();
    json_object_set_new(body, "order_id", json_string(order_id));
    json_object_set_new(body, "state", json_string(state));
    cc_http_reply_json(req, 200, body);
}

static void s_on_cancelled(PGresult *res, void *arg)
{
    s_cancel_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_order_cancel", res, &err) != 0) {
        /* Not cancelled: forget the step decided (state is what committed). */
        od_order_t *o = cc_map_get(x->app->orders, x->order_id);
        if (o && x->stepped && --o->pending == 0)
            o->next = o->state;
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_order_cancel", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    const char *state = PQgetvalue(res, 0, 1);
    od_order_t *o = cc_map_get(x->app->orders, x->order_id);
    if (o && x->stepped) {
        o->pending--;
        int s = od_state_parse(state);
        if (s >= 0)
            od_app_order_committed(x->app, o, (od_state_t)s);   /* may free o */
        else if (o->pending == 0)
            o->next = o->state;
    }
    /* already_cancelled after we decided to cancel: our own cancel, re-sent
     * after its COMMIT went through (reconnect). */
    if (strcmp(outcome, "cancelled") == 0 ||
        (x->stepped && strcmp(outcome, "already_cancelled") == 0)) {
        cc_info("order_cancelled", "order_id", x->order_id);
        s_cancel_reply(&x->req, x->order_id, "cancelled");
    } else if (strcmp(outcome, "unknown_order") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no order with this id");
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "the order is %s and can no longer be cancelled", state);
        cc_http_reply_error(&x->req, 409, "not_cancellable", "state", msg);
    }
    free(x);
}

static void s_post_cancel(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const char *id = cc_http_path_param(req, "id");
    json_t *body = NULL;
    size_t blen = 0;
    cc_http_body(req, &blen);
    if (blen > 0) {
        body = cc_http_json_body(req);
        if (!body)
            return;
    }
    char why[208];
    cc_err_t err;
    int rc = od_cancel_req_from_json(body, why, sizeof why, &err);
    json_decref(body);
    if (rc != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }

    s_cancel_ctx_t *x = cc_xcalloc(sizeof *x, "cancel");
    x->app = app;
    x->req = req;
    snprintf(x->order_id, sizeof x->order_id, "%s", id);
    od_order_t *o = cc_map_get(app->orders, id);
    uint8_t *payload = NULL;
    size_t len = 0;
    if (o) {
        od_step_t st = od_step(o->next, OD_EV_CANCEL);
        if (!st.changes) {
            /* Already cancelled (or cancelling) counts too: 409 naming the
             * state, so a retry learns where the order stands. */
            char msg[96];
            snprintf(msg, sizeof msg, "the order is %s and can no longer be cancelled",
                     od_state_name(o->next));
            cc_http_reply_error(&x->req, 409, "not_cancellable", "state", msg);
            free(x);
            return;
        }
        o->next = st.to;
        o->pending++;
        x->stepped = 1;
        Cc__OrderCancelled m = CC__ORDER_CANCELLED__INIT;
        m.order_id = o->id;
        m.reason = why;
        m.card_id = o->card->id;
        payload = cc_event_pack(&m.base, &len);
    }
    /* Not open in memory: final or unknown; the store tells which. */
    char event_id[CC_UUID_LEN];
    cc_uuid(event_id);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ORDER_CANCEL]);
    cc_args_text(&a, "order", x->order_id);
    cc_args_text(&a, "reason", why);
    cc_args_text(&a, "event_id", event_id);
    cc_args_bytes(&a, "payload", payload ? (const void *)payload : "", len);
    if (cc_db_call(app->rt.writer, &a, s_on_cancelled, x) != 0) {
        cc_error("db_queue_failed", "what", "od_order_cancel");
        exit(1);
    }
    free(payload);
}

void od_http_init_metrics(void)
{
    s_m_latency = cc_metrics_histogram("orderd_intake_seconds{via=\"http\"}",
                                       "Order placement latency, request to committed reply");
}

/* Ids in paths are checked and lower-cased by the runtime's guards. */
#define OPERATOR CC_ROLE_OPERATOR
#define FAMILY CC_ROLE_FAMILY
#define ADMIN CC_ROLE_ADMIN
#define SERVICE CC_ROLE_SERVICE
#define PROVIDER_ADMIN CC_ROLE_PROVIDER_ADMIN
#define DISPATCHER CC_ROLE_DISPATCHER
#define AUDITOR CC_ROLE_AUDITOR

/* Who may call what (roles; docs/API.md is generated from this table). A
 * family account reads its own elder's card and orders (s_family_card);
 * alarm devices and other machine clients (service) place orders. Elders'
 * records and orders (notes) are personal data: CC_ROUTE_PII (audited). */
const cc_http_route_t od_http_routes[] = {
    { "POST", "/v1/elders", s_post_elder, CC_ROUTE_JSON, OPERATOR },
    { "GET", "/v1/elders", od_elders_search, CC_ROUTE_PII, OPERATOR },
    { "GET", "/v1/elders/{id}", s_get_elder, CC_ROUTE_PII, OPERATOR },
    { "GET", "/v1/elders/{id}/assessments", od_assess_get, CC_ROUTE_PII, OPERATOR },
    /* Elder records that live (od_elders.h). */
    { "PATCH", "/v1/elders/{id}", od_elders_patch, CC_ROUTE_JSON, OPERATOR | ADMIN },
    { "POST", "/v1/elders/{id}/status", od_elders_status, CC_ROUTE_JSON, OPERATOR | ADMIN },
    { "GET", "/v1/elders/{id}/history", od_elders_history, CC_ROUTE_PII, OPERATOR | ADMIN },
    { "POST", "/v1/elders/import", od_elders_import, CC_ROUTE_CSV, OPERATOR | ADMIN },
    { "GET", "/v1/elders/import/{id}", od_elders_import_get, 0, OPERATOR | ADMIN },
    { "POST", "/v1/cards", s_post_card, CC_ROUTE_JSON, OPERATOR },
    { "GET", "/v1/cards/{id}", s_get_card, 0, OPERATOR | FAMILY },
    { "POST", "/v1/cards/{id}/status", s_post_card_status, CC_ROUTE_JSON, OPERATOR | ADMIN },
    { "POST", "/v1/orders", s_post_order, CC_ROUTE_JSON | CC_ROUTE_IDEM, OPERATOR | SERVICE },
    { "GET", "/v1/orders", s_get_orders, CC_ROUTE_PII, OPERATOR | FAMILY },
    { "GET", "/v1/orders/{id}", s_get_order, CC_ROUTE_PII, OPERATOR | FAMILY },
    { "POST", "/v1/orders/{id}/cancel", s_post_cancel, 0, OPERATOR },
    /* Alarms (od_alarm, docs/ALARMS.md): device gateways (service) and the
     * operator raise them; the call centre reads its queue and acknowledges;
     * the SMS/voice gateway (service) posts delivery receipts. */
    { "POST", "/v1/alarms", od_alarm_http_post, CC_ROUTE_JSON, OPERATOR | SERVICE },
    { "GET", "/v1/alarms", od_alarm_http_list, CC_ROUTE_PII, OPERATOR },
    { "GET", "/v1/alarms/{id}", od_alarm_http_get, CC_ROUTE_PII, OPERATOR },
    { "POST", "/v1/alarms/{id}/ack", od_alarm_http_ack, 0, OPERATOR },
    { "POST", "/v1/notifications/{id}/receipt", od_alarm_http_receipt, 0, OPERATOR | SERVICE },
    /* Care plans (od_plans): operators keep them; a family reads its own
     * elder's (the plan carries the diet: audited as personal data). */
    { "POST", "/v1/plans", od_plans_post, CC_ROUTE_JSON, OPERATOR },
    { "GET", "/v1/plans", od_plans_list, CC_ROUTE_PII, OPERATOR | FAMILY },
    { "GET", "/v1/plans/{id}", od_plans_get, CC_ROUTE_PII, OPERATOR | FAMILY },
    { "PATCH", "/v1/plans/{id}", od_plans_patch, CC_ROUTE_JSON, OPERATOR },
    { "POST", "/v1/plans/{id}/pause", od_plans_pause, 0, OPERATOR },
    { "POST", "/v1/plans/{id}/resume", od_plans_resume, 0, OPERATOR },
    { "POST", "/v1/plans/{id}/skip", od_plans_skip, CC_ROUTE_JSON, OPERATOR },
    { "POST", "/v1/plans/{id}/end", od_plans_end, CC_ROUTE_JSON, OPERATOR },
    /* County duties (od_duties, docs/DUTIES.md): rules are the admin's;
     * operators log contacts; coverage is read by those who act on it. */
    { "GET", "/v1/rules/duties", od_duties_get_rules, 0, OPERATOR | DISPATCHER | ADMIN | AUDITOR },
    { "PUT", "/v1/rules/duties", od_duties_put_rules, CC_ROUTE_JSON, ADMIN },
    { "POST", "/v1/elders/{id}/contacts-log", od_duties_post_contact, CC_ROUTE_JSON, OPERATOR },
    { "GET", "/v1/coverage", od_duties_get_coverage, CC_ROUTE_PII,
      OPERATOR | DISPATCHER | ADMIN | AUDITOR },
    /* The embedded token issuer (od_auth). Login and refresh take no token
     * (CC_ROUTE_PUBLIC); logout is any account's; a provider_admin creates
     * and disables its provider's accounts (od_auth checks the provider). */
    { "POST", "/v1/auth/login", od_auth_login, CC_ROUTE_JSON | CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v1/auth/refresh", od_auth_refresh, CC_ROUTE_JSON | CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v1/auth/logout", od_auth_logout, CC_ROUTE_JSON, CC_ROLE_ALL },
    { "POST", "/v1/accounts", od_auth_account_create, CC_ROUTE_JSON, ADMIN | PROVIDER_ADMIN },
    { "GET", "/v1/accounts", od_auth_account_list, 0, ADMIN },
    { "POST", "/v1/accounts/{id}/disable", od_auth_account_disable, 0, ADMIN | PROVIDER_ADMIN },
    { "POST", "/v1/auth/password", od_auth_password, CC_ROUTE_JSON, CC_ROLE_ALL },
    { "POST", "/v1/accounts/{id}/password", od_auth_account_password, CC_ROUTE_JSON,
      ADMIN | PROVIDER_ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};
