/* od_elders: see od_elders.h. Writes are decided by the store's functions
 * (sql/orderd/015_elders_live.sql) and answered after COMMIT; memory's
 * copy of an elder (od_elder_t) follows what committed. */
#include "od_elders.h"
#include "od_plans.h"
#include "od_app.h"
#include "od_pii.h"
#include "od_store.h"
#include "cc_event.h"
#include "cc_jwt.h"
#include "cc_log.h"
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A county roster: rows and bytes (413 beyond either). */
#define S_IMPORT_MAX_BODY (16u * 1024 * 1024)
#define S_IMPORT_MAX_ROWS 50000
/* Rows per import transaction: small enough that the writer's other work
 * waits at most one short batch. */
#define S_IMPORT_BATCH 200
/* Rows per background blind-index batch. */
#define S_INDEX_BATCH 200
#define S_PAGE_MAX 100

static void s_seal_free(uint8_t *p, size_t len)
{
    (void)len;
    free(p);
}

static uint8_t *s_seal(const od_pii_t *pii, const char *id, const char *col, const char *v,
                       size_t *len)
{
    uint8_t *b = od_pii_seal(pii, id, col, v, strlen(v), len);
    if (!b) {
        cc_error("out_of_memory", "what", "seal");
        exit(1);
    }
    return b;
}

static char *s_hex(const uint8_t *b, size_t len)
{
    char *h = malloc(len * 2 + 1);
    if (!h) {
        cc_error("out_of_memory", "what", "hex");
        exit(1);
    }
    sodium_bin2hex(h, len * 2 + 1, b, len);
    return h;
}

static const char *s_who(cc_http_req_t *req)
{
    const cc_jwt_claims_t *c = cc_http_claims(req);
    return c && c->sub[0] ? c->sub : "unknown";
}

static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error(req, 503, "unavailable", NULL, "the store could not answer; retry");
}

static int s_name_index(const char *const *names, const char *v)
{
    for (int i = 0; v && names[i]; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return -1;
}

/* Memory's copy follows a committed change: the plain fields of set and,
 * when given, the sealed address. */
static void s_apply(od_elder_t *e, json_t *set, const uint8_t *addr, size_t addr_len)
{
    json_t *v;
    if ((v = json_object_get(set, "district_id")) && json_is_integer(v))
        e->district_id = (int32_t)json_integer_value(v);
    if ((v = json_object_get(set, "lat")) && json_is_number(v))
        e->lat = json_number_value(v);
    if ((v = json_object_get(set, "lon")) && json_is_number(v))
        e->lon = json_number_value(v);
    if ((v = json_object_get(set, "birth_date")) && json_is_string(v))
        od_date_parse(json_string_value(v), &e->birth_y, &e->birth_m, &e->birth_d);
    int k;
    if ((k = s_name_index(od_ability_names, json_string_value(json_object_get(set,
                                                                            "ability_level")))) >= 0)
        e->ability = (uint8_t)k;
    if ((k = s_name_index(od_household_names, json_string_value(json_object_get(set,
                                                                              "household")))) >= 0)
        e->household = (uint8_t)k;
    if ((k = s_name_index(od_living_names, json_string_value(json_object_get(set, "living")))) >= 0)
        e->living = (uint8_t)k;
    if ((v = json_object_get(set, "diet")) && json_is_string(v)) {
        char *d = strdup(json_string_value(v));
        if (!d) {
            cc_error("out_of_memory", "what", "elder");
            exit(1);
        }
        free(e->diet);
        e->diet = d;
    }
    if (addr)
        od_app_elder_address(e, addr, addr_len);
}

/* ---- the elder's extra columns in GET /v1/elders and /v1/elders/{id} ---- */
/* Row columns from col: status, categories (JSON), rev, contacts (JSON,
 * sealed values as hex). */
void od_elders_json_more(json_t *o, PGresult *res, int r, int col, const od_pii_t *pii)
{
    json_object_set_new(o, "status", json_string(PQgetvalue(res, r, col)));
    json_t *cats = json_loads(PQgetvalue(res, r, col + 1), 0, NULL);
    json_object_set_new(o, "categories", cats ? cats : json_array());
    json_object_set_new(o, "rev", json_integer(strtoll(PQgetvalue(res, r, col + 2), NULL, 10)));
    json_t *in = json_loads(PQgetvalue(res, r, col + 3), 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(in, i, c) {
        const char *cid = json_string_value(json_object_get(c, "contact_id"));
        json_t *one = json_pack("{s:s,s:O,s:O}", "contact_id", cid ? cid : "",
                                "priority", json_object_get(c, "priority"),
                                "relation", json_object_get(c, "relation"));
        static const char *const cols[2] = { "name", "phone" };
        for (int k = 0; k < 2 && one; k++) {
            const char *hex = json_string_value(json_object_get(c, cols[k]));
            char column[16];
            snprintf(column, sizeof column, "contact_%s", cols[k]);
            size_t hl = hex ? strlen(hex) : 0, bl = 0;
            uint8_t *b = malloc(hl / 2 + 1);
            char *v = NULL;
            if (b && hex && sodium_hex2bin(b, hl / 2 + 1, hex, hl, NULL, &bl, NULL) == 0 && pii)
                v = od_pii_open(pii, cid, column, b, bl);
            free(b);
            if (!v)
                cc_warn("pii_open_failed", "contact_id", cid ? cid : "", "column", column);
            json_object_set_new(one, cols[k], v ? json_string(v) : json_null());
            if (v) {
                sodium_memzero(v, strlen(v));
                free(v);
            }
        }
        if (one)
            json_array_append_new(out, one);
    }
    json_decref(in);
    json_object_set_new(o, "contacts", out);
}

/* ---- PATCH /v1/elders/{id} ------------------------------------------------ */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char id[CC_UUID_LEN];
    json_t *set;
    uint8_t *address;          /* sealed, for memory once stored */
    size_t address_len;
} s_patch_ctx_t;

static json_t *s_changed_keys(const char *changes)
{
    json_t *ch = json_loads(changes, 0, NULL);
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(ch, k, v)
        json_array_append_new(keys, json_string(k));
    json_decref(ch);
    return keys;
}

static void s_on_patched(PGresult *res, void *arg)
{
    s_patch_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_elder_change", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        goto out;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_elder_change", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "unknown_elder") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no elder with this id");
    } else if (strcmp(outcome, "stale_rev") == 0) {
        json_t *b = json_pack("{s:s,s:s,s:s,s:I}", "error", "stale_rev", "field", "rev",
                              "message", "the record changed since this rev was read; "
                              "read it again", "rev",
                              (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10));
        cc_http_reply_json(&x->req, 409, b);
    } else if (strcmp(outcome, "duplicate_id_number") == 0) {
        cc_http_reply_error(&x->req, 409, "duplicate", "id_number",
                            "another elder is registered with this id_number");
    } else {
        if (strcmp(outcome, "updated") == 0) {
            od_elder_t *e = cc_map_get(x->app->elders, x->id);
            if (e)
                s_apply(e, x->set, x->address, x->address_len);
            cc_info("elder_changed", "elder_id", x->id);
        }
        json_t *b = json_pack("{s:s,s:I,s:o}", "elder_id", x->id, "rev",
                              (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10), "changed",
                              s_changed_keys(PQgetvalue(res, 0, 2)));
        cc_http_reply_json(&x->req, 200, b);
    }
out:
    json_decref(x->set);
    free(x->address);
    free(x);
}

/* If-Match: "<rev>", W/"<rev>" or <rev>. 0 (none), 1 (*rev set), -1 bad. */
static int s_if_match(cc_http_req_t *req, int64_t *rev)
{
    const char *h = cc_http_header(req, "If-Match");
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncmp(h, "W/", 2) == 0)
        h += 2;
    char buf[32];
    size_t n = strlen(h);
    if (n >= sizeof buf || n == 0)
        return -1;
    memcpy(buf, h, n + 1);
    char *p = buf;
    if (*p == '"' && n >= 2 && p[n - 1] == '"') {
        p[n - 1] = '\0';
        p++;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno || !*p || *end || v < 0)
        return -1;
    *rev = v;
    return 1;
}

void od_elders_patch(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const char *id = cc_http_path_param(req, "id");
    od_elder_patch_t p;
    cc_err_t err;
    if (od_elder_patch_from_json(cc_http_json(req), cc_now_us(), &p, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    int64_t hrev = 0;
    int hm = s_if_match(req, &hrev);
    if (hm < 0) {
        od_elder_patch_clear(&p);
        cc_http_reply_error(&req, 400, "invalid_value", "If-Match",
                            "If-Match must be the record's rev, e.g. \"3\"");
        return;
    }
    if (hm > 0 && p.has_rev && hrev != p.rev) {
        od_elder_patch_clear(&p);
        cc_http_reply_error(&req, 400, "invalid_value", "rev", "rev and If-Match differ");
        return;
    }
    s_patch_ctx_t *x = cc_xcalloc(sizeof *x, "patch");
    x->app = app;
    x->req = req;
    snprintf(x->id, sizeof x->id, "%s", id);
    x->set = p.set;
    p.set = NULL;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_CHANGE]);
    cc_args_text(&a, "id", x->id);
    if (hm > 0 || p.has_rev)
        cc_args_int(&a, "rev", hm > 0 ? hrev : p.rev);
    else
        cc_args_null(&a, "rev");
    cc_args_text(&a, "who", s_who(req));
    cc_args_text(&a, "action", "patch");
    char *set = json_dumps(x->set, JSON_COMPACT);
    cc_args_text(&a, "set", set);
    cc_args_int(&a, "key", od_pii_active_id(app->pii));
    /* Each sealed field given: sealed for this elder, with its index. */
    static const char *const cols[4] = { "name", "id_number", "phone", "address" };
    const char *vals[4] = { p.name, p.id_number ? p.id_number_norm : NULL, p.phone, p.address };
    uint8_t *sealed[4] = { NULL };
    size_t lens[4] = { 0 };
    uint8_t idx[4][OD_PII_IDX_LEN];
    char pn[16], pi[24];
    for (int i = 0; i < 4; i++) {
        snprintf(pn, sizeof pn, "%s", cols[i]);
        snprintf(pi, sizeof pi, "%s_idx", cols[i]);
        if (!vals[i]) {
            cc_args_null(&a, pn);
            cc_args_null(&a, pi);
            continue;
        }
        sealed[i] = s_seal(app->pii, x->id, cols[i], vals[i], &lens[i]);
        od_pii_index(app->pii, cols[i], vals[i], idx[i]);
        cc_args_bytes(&a, pn, sealed[i], lens[i]);
        cc_args_bytes(&a, pi, idx[i], OD_PII_IDX_LEN);
    }
    char *contacts = NULL;
    if (p.has_contacts) {
        json_t *list = json_array();
        for (int i = 0; i < p.ncontacts; i++) {
            char cid[CC_UUID_LEN];
            cc_uuid(cid);
            size_t nl, pl;
            uint8_t *n = s_seal(app->pii, cid, "contact_name", p.contacts[i].name, &nl);
            uint8_t *ph = s_seal(app->pii, cid, "contact_phone", p.contacts[i].phone, &pl);
            char *nh = s_hex(n, nl), *phh = s_hex(ph, pl);
            json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:s,s:s}", "id", cid,
                                                  "priority", p.contacts[i].priority,
                                                  "relation", p.contacts[i].relation,
                                                  "name", nh, "phone", phh));
            free(n);
            free(ph);
            free(nh);
            free(phh);
        }
        contacts = json_dumps(list, JSON_COMPACT);
        json_decref(list);
        cc_args_text(&a, "contacts", contacts);
    } else {
        cc_args_null(&a, "contacts");
    }
    if (cc_db_call(app->rt.writer, &a, s_on_patched, x) != 0) {
        cc_error("db_queue_failed", "what", "od_elder_change");
        exit(1);
    }
    free(set);
    free(contacts);
    x->address = sealed[3];
    x->address_len = lens[3];
    for (int i = 0; i < 3; i++)
        s_seal_free(sealed[i], lens[i]);
    od_elder_patch_clear(&p);
}

/* ---- open orders of a deceased elder ---------------------------------------- */
typedef struct {
    od_app_t *app;
    char order_id[CC_UUID_LEN];
} s_cancel_ctx_t;

/* As POST /v1/orders/{id}/cancel's result (od_http.c), with no one to answer. */
static void s_on_cancelled(PGresult *res, void *arg)
{
    s_cancel_ctx_t *x = arg;
    od_order_t *o = cc_map_get(x->app->orders, x->order_id);
    if (od_app_write_ok(x->app, "od_order_cancel", res, NULL) != 0) {
        if (o && --o->pending == 0)
            o->next = o->state;
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_order_cancel", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (o) {
        o->pending--;
        int s = od_state_parse(PQgetvalue(res, 0, 1));
        if (s >= 0)
            od_app_order_committed(x->app, o, (od_state_t)s);   /* may free o */
        else if (o->pending == 0)
            o->next = o->state;
    }
    cc_info("order_cancelled", "order_id", x->order_id, "why", "elder_deceased", "outcome",
            outcome);
    free(x);
}

/* Cancel o through the saga's cancel (OrderCancelled: billingd releases the
 * hold, dispatchd or meald drop the work). 1 queued, 0 not cancellable. */
static int s_cancel_one(od_app_t *app, od_order_t *o)
{
    od_step_t st = od_step(o->next, OD_EV_CANCEL);
    if (!st.changes)
        return 0;
    static char why[] = "elder deceased";
    o->next = st.to;
    o->pending++;
    Cc__OrderCancelled m = CC__ORDER_CANCELLED__INIT;
    m.order_id = o->id;
    m.reason = why;
    m.card_id = o->card ? o->card->id : (char *)"";   /* card-less orders may come (alarms) */
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&m.base, &len);
    s_cancel_ctx_t *x = cc_xcalloc(sizeof *x, "cancel");
    x->app = app;
    snprintf(x->order_id, sizeof x->order_id, "%s", o->id);
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
    return 1;
}

/* Every open order of the elder: cancelled ones' ids into cancelled, the
 * others' (already with a caregiver at the door) into kept. */
static void s_cancel_elder(od_app_t *app, const char *elder_id, json_t *cancelled, json_t *kept)
{
    size_t pos = 0;
    od_order_t *o;
    /* Collect first: a cancel's callback may free an order. */
    json_t *ids = json_array();
    while ((o = cc_map_next(app->orders, &pos)))
        if (o->card && o->card->elder && strcmp(o->card->elder->id, elder_id) == 0)
            json_array_append_new(ids, json_string(o->id));
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        o = cc_map_get(app->orders, json_string_value(v));
        if (!o)
            continue;
        if (s_cancel_one(app, o)) {
            if (cancelled)
                json_array_append(cancelled, v);
        } else if (kept && !od_state_final(o->next)) {
            json_array_append(kept, v);
        }
    }
    json_decref(ids);
}

/* ---- POST /v1/elders/{id}/status ---------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char id[CC_UUID_LEN];
    int status;
} s_status_ctx_t;

static void s_on_status(PGresult *res, void *arg)
{
    s_status_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_elder_set_status", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_elder_set_status", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "unknown_elder") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no elder with this id");
    } else if (strcmp(outcome, "final") == 0) {
        cc_http_reply_error(&x->req, 409, "final", "status",
                            "the elder is recorded deceased; that status is final");
    } else {
        json_t *cancelled = json_array(), *kept = json_array();
        /* A death ends the elder's open orders (also on a repeated call:
         * one placed meanwhile is ended too). */
        if (strcmp(od_elder_status_names[x->status], "deceased") == 0) {
            od_elder_t *e = cc_map_get(x->app->elders, x->id);
            if (e)
                e->deceased = true;   /* od_app_place refuses new orders */
            s_cancel_elder(x->app, x->id, cancelled, kept);
        }
        if (strcmp(outcome, "changed") == 0) {
            cc_info("elder_status", "elder_id", x->id, "status", od_elder_status_names[x->status]);
            od_plans_kick(x->app);   /* plans of an elder no longer active end now */
        }
        json_t *b = json_pack("{s:s,s:s,s:I,s:b,s:o,s:o}", "elder_id", x->id, "status",
                              od_elder_status_names[x->status], "rev",
                              (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10), "changed",
                              strcmp(outcome, "changed") == 0, "cancelled_orders", cancelled,
                              "open_orders_kept", kept);
        cc_http_reply_json(&x->req, 200, b);
    }
    free(x);
}

void od_elders_status(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    json_t *body = cc_http_json(req);
    static const char *const known[] = { "status", "reason", NULL };
    cc_err_t err;
    int status = 0;
    const char *reason = "";
    if (cc_json_only(body, known, &err) != 0
        || cc_json_enum(body, "status", 1, od_elder_status_names, &status, &err) != 0
        || cc_json_str(body, "reason", 0, CC_TEXT_MAX, &reason, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_status_ctx_t *x = cc_xcalloc(sizeof *x, "status");
    x->app = app;
    x->req = req;
    x->status = status;
    snprintf(x->id, sizeof x->id, "%s", cc_http_path_param(req, "id"));
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_STATUS]);
    cc_args_text(&a, "id", x->id);
    cc_args_text(&a, "status", od_elder_status_names[status]);
    cc_args_text(&a, "reason", reason);
    cc_args_text(&a, "who", s_who(req));
    if (cc_db_call(app->rt.writer, &a, s_on_status, x) != 0) {
        cc_error("db_queue_failed", "what", "od_elder_set_status");
        exit(1);
    }
}

/* ---- GET /v1/elders/{id}/history ---------------------------------------- */
static void s_on_history(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "elder_history", res);
        return;
    }
    if (PQntuples(res) == 0) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no elder with this id");
        return;
    }
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        if (PQgetisnull(res, r, 1))
            continue;
        json_t *ch = json_loads(PQgetvalue(res, r, 5), 0, NULL);
        json_array_append_new(list, json_pack("{s:I,s:s,s:s,s:I,s:o}", "seq",
                                              (json_int_t)strtoll(PQgetvalue(res, r, 1), NULL, 10),
                                              "who", PQgetvalue(res, r, 2), "action",
                                              PQgetvalue(res, r, 3), "at_us",
                                              (json_int_t)strtoll(PQgetvalue(res, r, 4), NULL, 10),
                                              "changes", ch ? ch : json_object()));
    }
    json_t *body = json_pack("{s:s,s:o}", "elder_id", PQgetvalue(res, 0, 0), "history", list);
    cc_http_reply_json(&req, 200, body);
}

/* limit (1..S_PAGE_MAX, default 50) and an int64 cursor. 0, or -1 answered. */
static int s_page(cc_http_req_t **req, int *limit)
{
    const char *l = cc_http_query(*req, "limit");
    *limit = 50;
    if (l) {
        char *end = NULL;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > S_PAGE_MAX) {
            cc_http_reply_error(req, 400, "invalid_value", "limit", "limit must be 1..100");
            return -1;
        }
        *limit = (int)v;
    }
    return 0;
}

void od_elders_history(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    int limit;
    if (s_page(&req, &limit) != 0)
        return;
    long long after = 0;
    const char *af = cc_http_query(req, "after");
    if (af) {
        char *end = NULL;
        errno = 0;
        after = strtoll(af, &end, 10);
        if (!*af || *end || errno || after < 0) {
            cc_http_reply_error(&req, 400, "invalid_value", "after",
                                "after must be a history seq");
            return;
        }
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_HISTORY]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    cc_args_int(&a, "after", after);
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(app->rt.reader, &a, s_on_history, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

/* ---- GET /v1/elders?phone=|id_number=|name= ------------------------------ */
typedef struct {
    cc_http_req_t *req;
    int limit;
} s_search_ctx_t;

static void s_on_search(PGresult *res, void *arg)
{
    s_search_ctx_t *x = arg;
    cc_http_req_t *req = x->req;
    int limit = x->limit;
    free(x);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "elders", res);
        return;
    }
    json_t *list = json_array();
    int n = PQntuples(res);
    for (int r = 0; r < n && r < limit; r++)
        json_array_append_new(list, od_store_elder_json(res, r));
    json_t *body = json_object();
    json_object_set_new(body, "elders", list);
    /* One row more than a page: there is a next page, after the last id. */
    json_object_set_new(body, "next", n > limit ? json_string(PQgetvalue(res, limit - 1, 0))
                                                : json_null());
    cc_http_reply_json(&req, 200, body);
}

void od_elders_search(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    static const char *const keys[3] = { "phone", "id_number", "name" };
    const char *key = NULL, *val = NULL;
    for (int i = 0; i < 3; i++) {
        const char *v = cc_http_query(req, keys[i]);
        if (!v)
            continue;
        if (key) {
            cc_http_reply_error(&req, 400, "invalid_value", keys[i],
                                "search by one of phone, id_number or name");
            return;
        }
        key = keys[i];
        val = v;
    }
    if (!key || !*val) {
        cc_http_reply_error(&req, 400, "missing_field", key ? key : "phone",
                            "one of the phone, id_number or name query parameters is required");
        return;
    }
    const char *why = NULL;
    char norm[32];
    if (strcmp(key, "phone") == 0 && !od_phone_valid(val)) {
        cc_http_reply_error(&req, 400, "invalid_value", "phone", "phone is not a phone number");
        return;
    }
    if (strcmp(key, "id_number") == 0) {
        if (strlen(val) != 18 || od_id_number_check(val, &why) != 0) {
            cc_http_reply_error(&req, 400, "invalid_value", "id_number",
                                "id_number is not a valid 18-character resident ID");
            return;
        }
        snprintf(norm, sizeof norm, "%s", val);
        if (norm[17] == 'x')
            norm[17] = 'X';
        val = norm;
    }
    if (strcmp(key, "name") == 0 && strlen(val) > CC_NAME_MAX) {
        cc_http_reply_error(&req, 400, "invalid_value", "name", "name is too long");
        return;
    }
    int limit;
    if (s_page(&req, &limit) != 0)
        return;
    int bad = 0;
    const char *after = cc_http_query_id(req, "after", &bad);
    if (bad)
        return;
    uint8_t idx[OD_PII_IDX_LEN];
    od_pii_index(app->pii, key, val, idx);   /* sealed: search the blind index */
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_SEARCH]);
    cc_args_text(&a, "key", key);
    cc_args_bytes(&a, "idx", idx, sizeof idx);
    cc_args_text(&a, "after", after ? after : "00000000-0000-0000-0000-000000000000");
    cc_args_int(&a, "limit", limit + 1);
    s_search_ctx_t *x = cc_xcalloc(sizeof *x, "search");
    x->req = req;
    x->limit = limit;
    if (cc_db_call(app->rt.reader, &a, s_on_search, x) != 0) {
        free(x);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
    }
}

/* ---- bulk import ------------------------------------------------------------ */
typedef struct s_import {
    od_app_t *app;
    cc_http_req_t *req;              /* until the 202 */
    char id[CC_UUID_LEN];
    char who[CC_JWT_SUB_MAX + 1];
    json_t *rows;                    /* od_roster_t rows */
    size_t next;                     /* first row of the batch in flight */
    size_t n;                        /* rows in it */
    json_t *sealed_addr;             /* per batch row: hex of the sealed address */
    struct s_import *link;
} s_import_t;

static s_import_t *s_imports;        /* running, for od_elders_stop */
static int s_stopping;

static void s_import_free(s_import_t *x)
{
    for (s_import_t **p = &s_imports; *p; p = &(*p)->link)
        if (*p == x) {
            *p = x->link;
            break;
        }
    json_decref(x->rows);
    json_decref(x->sealed_addr);
    free(x);
}

static void s_import_lookup(s_import_t *x);

static void s_import_cut(s_import_t *x, const char *why)
{
    cc_warn("elder_import_interrupted", "import_id", x->id, "why", why);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_CUT]);
    cc_args_text(&a, "id", x->id);
    if (cc_db_call(x->app->rt.writer, &a, NULL, NULL) != 0)
        cc_warn("db_queue_failed", "what", "elder_import_cut");
    s_import_free(x);
}

static void s_on_import_batch(PGresult *res, void *arg)
{
    s_import_t *x = arg;
    if (od_app_write_ok(x->app, "od_elder_import_batch", res, NULL) != 0) {
        /* Idempotent on ID number: importing the file again finishes it. */
        s_import_cut(x, "store");
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *outcome = PQgetvalue(res, r, 1);
        const char *eid = PQgetvalue(res, r, 2);
        json_t *row = NULL;
        size_t k;
        for (k = 0; k < x->n; k++) {
            json_t *c = json_array_get(x->rows, x->next + k);
            if (json_integer_value(json_object_get(c, "row")) == atoi(PQgetvalue(res, r, 0))) {
                row = c;
                break;
            }
        }
        if (!row || strcmp(outcome, "unchanged") == 0)
            continue;
        od_elder_t *e = strcmp(outcome, "created") == 0 ? od_app_add_elder(x->app, eid)
                                                         : cc_map_get(x->app->elders, eid);
        if (!e) {
            if (strcmp(outcome, "created") == 0) {
                cc_error("out_of_memory", "what", "elder");
                exit(1);
            }
            continue;
        }
        const char *hex = json_string_value(json_array_get(x->sealed_addr, k));
        size_t hl = hex ? strlen(hex) : 0, bl = 0;
        uint8_t *b = malloc(hl / 2 + 1);
        if (b && hex && sodium_hex2bin(b, hl / 2 + 1, hex, hl, NULL, &bl, NULL) == 0)
            s_apply(e, json_object_get(row, "set"), b, bl);
        else
            s_apply(e, json_object_get(row, "set"), NULL, 0);
        free(b);
    }
    x->next += x->n;
    x->n = 0;
    if (x->next >= json_array_size(x->rows)) {
        char n[24];
        snprintf(n, sizeof n, "%zu", json_array_size(x->rows));
        cc_info("elder_import_done", "import_id", x->id, "rows", n);
        s_import_free(x);
        return;
    }
    if (s_stopping) {
        s_import_cut(x, "stopping");
        return;
    }
    s_import_lookup(x);
}

/* The batch's rows sealed for their elders (the existing one's id, found
 * by ID number, or a new id), then one write. */
static void s_on_import_lookup(PGresult *res, void *arg)
{
    s_import_t *x = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_import_cut(x, "lookup");
        return;
    }
    od_app_t *app = x->app;
    const od_pii_t *pii = app->pii;
    json_t *batch = json_array();
    json_decref(x->sealed_addr);
    x->sealed_addr = json_array();
    for (size_t k = 0; k < x->n; k++) {
        json_t *row = json_array_get(x->rows, x->next + k);
        const char *vals[4] = {
            json_string_value(json_object_get(row, "name")),
            json_string_value(json_object_get(row, "id_number")),
            json_string_value(json_object_get(row, "phone")),
            json_string_value(json_object_get(row, "address")),
        };
        static const char *const cols[4] = { "name", "id_number", "phone", "address" };
        uint8_t idx[OD_PII_IDX_LEN];
        od_pii_index(pii, "id_number", vals[1], idx);
        char *ih = s_hex(idx, sizeof idx);
        char id[CC_UUID_LEN] = "";
        for (int r = 0; r < PQntuples(res); r++)
            if (strcmp(PQgetvalue(res, r, 0), ih) == 0)
                snprintf(id, sizeof id, "%s", PQgetvalue(res, r, 1));
        free(ih);
        if (!id[0])
            cc_uuid(id);
        json_t *o = json_pack("{s:I,s:s,s:O}", "row", json_integer_value(json_object_get(row,
                                                                                      "row")),
                              "id", id, "set", json_object_get(row, "set"));
        for (int c = 0; c < 4; c++) {
            size_t len;
            uint8_t *s = s_seal(pii, id, cols[c], vals[c], &len);
            od_pii_index(pii, cols[c], vals[c], idx);
            char *sh = s_hex(s, len), *xh = s_hex(idx, sizeof idx);
            char key[24];
            json_object_set_new(o, cols[c], json_string(sh));
            snprintf(key, sizeof key, "%s_idx", cols[c]);
            json_object_set_new(o, key, json_string(xh));
            if (c == 3)
                json_array_append_new(x->sealed_addr, json_string(sh));
            free(s);
            free(sh);
            free(xh);
        }
        json_array_append_new(batch, o);
    }
    char *text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    if (!text) {
        cc_error("out_of_memory", "what", "import");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_BATCH]);
    cc_args_text(&a, "import", x->id);
    cc_args_text(&a, "who", x->who);
    cc_args_int(&a, "key", od_pii_active_id(pii));
    cc_args_text(&a, "rows", text);
    cc_args_bool(&a, "last", x->next + x->n >= json_array_size(x->rows));
    if (cc_db_call(app->rt.writer, &a, s_on_import_batch, x) != 0) {
        cc_error("db_queue_failed", "what", "od_elder_import_batch");
        exit(1);
    }
    sodium_memzero(text, strlen(text));
    free(text);
}

/* Which of the next batch's ID numbers are registered, and as whom. */
static void s_import_lookup(s_import_t *x)
{
    size_t total = json_array_size(x->rows);
    x->n = total - x->next < S_IMPORT_BATCH ? total - x->next : S_IMPORT_BATCH;
    /* A text[] literal of hex indexes. */
    char *lit = malloc(x->n * (OD_PII_IDX_LEN * 2 + 1) + 3);
    if (!lit) {
        cc_error("out_of_memory", "what", "import");
        exit(1);
    }
    char *w = lit;
    *w++ = '{';
    for (size_t k = 0; k < x->n; k++) {
        json_t *row = json_array_get(x->rows, x->next + k);
        uint8_t idx[OD_PII_IDX_LEN];
        od_pii_index(x->app->pii, "id_number",
                     json_string_value(json_object_get(row, "id_number")), idx);
        if (k)
            *w++ = ',';
        sodium_bin2hex(w, OD_PII_IDX_LEN * 2 + 1, idx, sizeof idx);
        w += OD_PII_IDX_LEN * 2;
    }
    *w++ = '}';
    *w = '\0';
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_LOOKUP]);
    cc_args_text(&a, "idx", lit);
    if (cc_db_call(x->app->rt.writer, &a, s_on_import_lookup, x) != 0) {
        cc_error("db_queue_failed", "what", "elder import lookup");
        exit(1);
    }
    free(lit);
}

static void s_on_import_created(PGresult *res, void *arg)
{
    s_import_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "elder_import_new", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        s_import_free(x);
        return;
    }
    int total = atoi(PQgetvalue(res, 0, 1)), rejected = atoi(PQgetvalue(res, 0, 2));
    char n[24];
    snprintf(n, sizeof n, "%d", total);
    cc_info("elder_import_started", "import_id", x->id, "rows", n);
    json_t *b = json_pack("{s:s,s:s,s:i,s:i,s:i}", "import_id", x->id, "state",
                          PQgetvalue(res, 0, 0), "total", total, "accepted",
                          (int)json_array_size(x->rows), "rejected", rejected);
    cc_http_reply_json(&x->req, 202, b);
    if (json_array_size(x->rows) == 0)
        s_import_free(x);
    else
        s_import_lookup(x);
}

void od_elders_import(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    size_t len = 0;
    const char *body = cc_http_body(req, &len);
    od_roster_t r;
    cc_err_t err;
    if (od_roster_parse(body, len, cc_now_us(), S_IMPORT_MAX_ROWS, &r, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_import_t *x = cc_xcalloc(sizeof *x, "import");
    x->app = app;
    x->req = req;
    cc_uuid(x->id);
    snprintf(x->who, sizeof x->who, "%s", s_who(req));
    x->rows = r.rows;
    r.rows = NULL;
    x->link = s_imports;
    s_imports = x;
    char *rej = json_dumps(r.rejected, JSON_COMPACT);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_NEW]);
    cc_args_text(&a, "id", x->id);
    cc_args_text(&a, "who", x->who);
    cc_args_int(&a, "total", r.total);
    cc_args_int(&a, "done", (int64_t)json_array_size(r.rejected));
    cc_args_text(&a, "rejected", rej ? rej : "[]");
    cc_args_text(&a, "state", json_array_size(x->rows) ? "running" : "done");
    if (cc_db_call(app->rt.writer, &a, s_on_import_created, x) != 0) {
        cc_error("db_queue_failed", "what", "elder_import_new");
        exit(1);
    }
    free(rej);
    od_roster_clear(&r);
}

static void s_on_import_get(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "elder_imports", res);
        return;
    }
    if (PQntuples(res) != 1) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no import with this id");
        return;
    }
    json_t *rej = json_loads(PQgetvalue(res, 0, 8), 0, NULL);
    json_t *b = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:I}",
                          "import_id", PQgetvalue(res, 0, 0), "who", PQgetvalue(res, 0, 1),
                          "state", PQgetvalue(res, 0, 2), "total", atoi(PQgetvalue(res, 0, 3)),
                          "done", atoi(PQgetvalue(res, 0, 4)), "created",
                          atoi(PQgetvalue(res, 0, 5)), "updated", atoi(PQgetvalue(res, 0, 6)),
                          "unchanged", atoi(PQgetvalue(res, 0, 7)), "rejected_rows",
                          rej ? (int)json_array_size(rej) : 0, "rejected", rej ? rej : json_array(),
                          "started_at_us", (json_int_t)strtoll(PQgetvalue(res, 0, 9), NULL, 10));
    json_object_set_new(b, "finished_at_us", PQgetisnull(res, 0, 10) ? json_null()
                        : json_integer(strtoll(PQgetvalue(res, 0, 10), NULL, 10)));
    cc_http_reply_json(&req, 200, b);
}

void od_elders_import_get(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_GET]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    if (cc_db_call(app->rt.reader, &a, s_on_import_get, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

/* ---- at start -------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    int inflight;
    int failed;
    int64_t rows;
} s_fill_t;

static s_fill_t s_fill;

static void s_fill_next(void);

static void s_on_filled(PGresult *res, void *arg)
{
    (void)arg;
    if (od_app_write_ok(s_fill.app, "od_elder_index_fill", res, NULL) == 0)
        s_fill.rows++;
    if (--s_fill.inflight == 0 && !s_fill.failed)
        s_fill_next();
}

static void s_on_fill_batch(PGresult *res, void *arg)
{
    (void)arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_warn("elder_index_fill_failed", "what", "read");
        return;
    }
    if (PQntuples(res) == 0) {
        if (s_fill.rows > 0) {
            char n[24];
            snprintf(n, sizeof n, "%lld", (long long)s_fill.rows);
            cc_info("elder_indexes_filled", "rows", n);
        }
        return;
    }
    int queued = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        char *v[2] = { NULL, NULL };
        static const char *const cols[2] = { "name", "address" };
        for (int c = 0; c < 2; c++) {
            size_t len = 0;
            unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c + 1),
                                               &len);
            if (b)
                v[c] = od_pii_open(s_fill.app->pii, id, cols[c], b, len);
            PQfreemem(b);
        }
        if (v[0] && v[1]) {
            uint8_t ni[OD_PII_IDX_LEN], ai[OD_PII_IDX_LEN];
            od_pii_index(s_fill.app->pii, "name", v[0], ni);
            od_pii_index(s_fill.app->pii, "address", v[1], ai);
            cc_args_t a;
            cc_args_init(&a, &od_stmts[OD_ST_EL_INDEX_FILL]);
            cc_args_text(&a, "id", id);
            cc_args_bytes(&a, "name_idx", ni, sizeof ni);
            cc_args_bytes(&a, "address_idx", ai, sizeof ai);
            if (cc_db_call(s_fill.app->rt.writer, &a, s_on_filled, NULL) != 0) {
                cc_error("db_queue_failed", "what", "od_elder_index_fill");
                exit(1);
            }
            s_fill.inflight++;
            queued++;
        } else {
            cc_warn("pii_open_failed", "elder_id", id, "column", v[0] ? "address" : "name");
        }
        for (int c = 0; c < 2; c++)
            if (v[c]) {
                sodium_memzero(v[c], strlen(v[c]));
                free(v[c]);
            }
    }
    /* A row that does not open stays unindexed (warned): finish the
     * batch, then stop rather than read it again and again. */
    if (queued < PQntuples(res))
        s_fill.failed = 1;
    if (s_fill.inflight == 0 && !s_fill.failed)
        s_fill_next();
}

static void s_fill_next(void)
{
    if (s_stopping)
        return;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_INDEX_ROWS]);
    cc_args_int(&a, "limit", S_INDEX_BATCH);
    if (cc_db_call(s_fill.app->rt.reader, &a, s_on_fill_batch, NULL) != 0)
        cc_warn("db_queue_failed", "what", "elder index rows");
}

/* Contacts under the old key (a rotation, od_reseal.h): od_reseal moves
 * the elders' rows, this their contacts, in batches until none is left. */
typedef struct {
    od_app_t *app;
    int inflight;
    int failed;
    int64_t rows;
} s_rot_t;

static s_rot_t s_rot;

static void s_rot_next(void);

static void s_on_contact_resealed(PGresult *res, void *arg)
{
    (void)arg;
    if (od_app_write_ok(s_rot.app, "od_elder_contact_reseal", res, NULL) != 0)
        s_rot.failed = 1;
    else
        s_rot.rows++;
    if (--s_rot.inflight == 0 && !s_rot.failed)
        s_rot_next();
}

static void s_on_contacts_old(PGresult *res, void *arg)
{
    (void)arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_warn("pii_contacts_rotation_failed", "what", "read");
        return;
    }
    const od_pii_t *pii = s_rot.app->pii;
    if (PQntuples(res) == 0) {
        char n[24], kid[16];
        snprintf(n, sizeof n, "%lld", (long long)s_rot.rows);
        snprintf(kid, sizeof kid, "%d", od_pii_old_id(pii));
        cc_info("pii_contacts_rotation_done", "rows", n, "old_key_id", kid);
        return;
    }
    char from[16];
    snprintf(from, sizeof from, "%d", od_pii_old_id(pii));
    for (int r = 0; r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        static const char *const cols[2] = { "contact_name", "contact_phone" };
        uint8_t *sealed[2] = { NULL, NULL };
        size_t lens[2] = { 0, 0 };
        for (int c = 0; c < 2; c++) {
            size_t len = 0;
            unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c + 1),
                                               &len);
            char *v = b ? od_pii_open(pii, id, cols[c], b, len) : NULL;
            PQfreemem(b);
            if (v) {
                sealed[c] = s_seal(pii, id, cols[c], v, &lens[c]);
                sodium_memzero(v, strlen(v));
                free(v);
            }
        }
        if (sealed[0] && sealed[1]) {
            cc_args_t a;
            cc_args_init(&a, &od_stmts[OD_ST_EL_CONTACT_RESEAL]);
            cc_args_text(&a, "id", id);
            cc_args_text(&a, "from", from);
            cc_args_int(&a, "key", od_pii_active_id(pii));
            cc_args_bytes(&a, "name", sealed[0], lens[0]);
            cc_args_bytes(&a, "phone", sealed[1], lens[1]);
            if (cc_db_call(s_rot.app->rt.writer, &a, s_on_contact_resealed, NULL) != 0) {
                cc_error("db_queue_failed", "what", "od_elder_contact_reseal");
                exit(1);
            }
            s_rot.inflight++;
        } else {
            /* Stop rather than read it again and again. */
            cc_error("pii_open_failed", "contact_id", id, "fix",
                     "restore the row from a backup; contacts rotation stopped");
            s_rot.failed = 1;
        }
        free(sealed[0]);
        free(sealed[1]);
    }
    if (s_rot.inflight == 0 && !s_rot.failed)
        s_rot_next();
}

static void s_rot_next(void)
{
    if (s_stopping)
        return;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_CONTACTS_OLD]);
    cc_args_int(&a, "key", od_pii_old_id(s_rot.app->pii));
    cc_args_int(&a, "limit", S_INDEX_BATCH);
    if (cc_db_call(s_rot.app->rt.reader, &a, s_on_contacts_old, NULL) != 0)
        cc_warn("db_queue_failed", "what", "contacts under the old key");
}

static void s_on_deceased_open(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_warn("db_read_failed", "what", "deceased elders' open orders");
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        od_order_t *o = cc_map_get(app->orders, PQgetvalue(res, r, 0));
        if (o)
            s_cancel_one(app, o);
    }
}

int od_elders_start(od_app_t *app)
{
    s_stopping = 0;
    if (app->rt.http)
        cc_http_set_bulk_body(app->rt.http, S_IMPORT_MAX_BODY);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_EL_IMPORT_CUT]);
    cc_args_null(&a, "id");
    if (cc_db_call(app->rt.writer, &a, NULL, NULL) != 0)
        return -1;
    cc_args_init(&a, &od_stmts[OD_ST_EL_DECEASED_OPEN]);
    if (cc_db_call(app->rt.reader, &a, s_on_deceased_open, app) != 0)
        return -1;
    s_fill.app = app;
    s_fill.rows = 0;
    s_fill.inflight = 0;
    s_fill.failed = 0;
    s_fill_next();
    if (od_pii_has_old(app->pii)) {
        s_rot.app = app;
        s_rot.rows = 0;
        s_rot.inflight = 0;
        s_rot.failed = 0;
        s_rot_next();
    }
    return 0;
}

void od_elders_stop(od_app_t *app)
{
    (void)app;
    s_stopping = 1;
}
