/* bd_http: see bd_http.h. */
#include "bd_http.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bd_store.h"
#include "cc_log.h"
#include "cc_util.h"

static json_t *s_time_json(int64_t us)
{
    char buf[48];
    return json_string(cc_time_format(us, buf, sizeof buf));
}

/* The card in the path (a UUID in lower case: the route guard saw to
 * it), or NULL having taken the request: 404 unknown_card, or 403 when the
 * caller is a family account of another elder, or parked until orderd's
 * log has caught up (the card may have been issued a moment ago; then
 * handler runs again: cc_rt_await). */
static bd_card_t *s_path_card(bd_app_t *app, cc_http_req_t **req_p, cc_http_fn *handler)
{
    bd_card_t *card = bd_ledger_card(app->ledger, cc_http_path_param(*req_p, "card_id"));
    if (!card) {
        if (cc_rt_await(&app->rt, req_p, "orderd", handler))
            return NULL;
        cc_http_reply_error(req_p, 404, "unknown_card", "card_id",
                            "no such love card (billing learns cards from orderd)");
        return NULL;
    }
    cc_scope_t scope = { .elder_id = card->elder_id };
    return cc_http_scope(req_p, &scope) == 0 ? card : NULL;
}

/* ---- prices and rules ------------------------------------------------------------ */

static void s_get_prices(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    json_t *list = json_array();
    for (int s = 1; s <= BD_SERVICE_MAX; s++) {
        int64_t p = bd_pricing_price(app->pricing, s);
        if (p < 0)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:I}", "service", bd_service_name(s),
                                              "price_fen", (json_int_t)p));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o, s:s}", "prices", list, "currency", "CNY fen"));
}

typedef struct {
    bd_app_t *app;
    cc_http_req_t *req;
    int service;
    int64_t price;
} s_price_job_t;

static void s_on_set_price(PGresult *res, void *arg)
{
    s_price_job_t *j = arg;
    j->app->writes_done++;
    cc_err_t err;
    if (cc_db_res_class(res) != CC_DB_OK) {
        /* The price changes in memory once stored. */
        cc_rt_write_failed(&j->app->rt, bd_stmts[BD_ST_SET_PRICE].name, res, 0, &err);
        cc_http_reply_err(&j->req, &err);
        free(j);
        return;
    }
    if (!bd_res_ok(res))
        bd_fatal_sql(bd_stmts[BD_ST_SET_PRICE].name, res);
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "applied") == 0) {
        bd_pricing_set_price(j->app->pricing, j->service, j->price);
        cc_info("price_set", "service", bd_service_name(j->service));
        cc_http_reply_json(&j->req, 200, json_pack("{s:s, s:I}", "service",
                                                   bd_service_name(j->service), "price_fen",
                                                   (json_int_t)j->price));
    } else {
        cc_http_reply_error(&j->req, 404, "unknown_service", "service",
                            "the price list has no such service");
    }
    free(j);
}

int bd_http_read_price(json_t *body, int64_t *price, cc_err_t *err)
{
    static const char *const known[] = { "price_fen", NULL };
    if (cc_json_only(body, known, err) < 0
        || cc_json_int(body, "price_fen", 1, 0, BD_PRICE_MAX_FEN, price, err) < 0)
        return -1;
    return 0;
}

static void s_put_price(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    int service = bd_service_parse(cc_http_path_param(req, "service"));
    if (!service) {
        cc_http_reply_error(&req, 404, "unknown_service", "service",
                            "service must be one of meal, bath, cleaning, escort, "
                            "medical_escort, emergency, visit, assessment");
        return;
    }
    cc_err_t err;
    int64_t price = 0;
    if (bd_http_read_price(cc_http_json(req), &price, &err) < 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_price_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->app = app;
    j->req = req;
    j->service = service;
    j->price = price;
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_SET_PRICE]);
    cc_args_text(&a, "service", bd_service_name(service));
    cc_args_int(&a, "price", price);
    if (cc_db_call(app->rt.writer, &a, s_on_set_price, j) != 0) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database queue full");
        free(j);
        return;
    }
    app->writes_issued++;
}

static void s_get_rules(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    json_t *list = json_array();
    for (size_t i = 0; i < bd_pricing_rule_count(app->pricing); i++) {
        const bd_rule_t *r = bd_pricing_rule(app->pricing, i);
        json_t *o = json_pack("{s:i}", "rule_id", r->rule_id);
        json_object_set_new(o, "district_id",
                            r->district_id >= 0 ? json_integer(r->district_id) : json_null());
        json_object_set_new(o, "household",
                            r->household[0] ? json_string(r->household) : json_null());
        json_object_set_new(o, "age_min",
                            r->age_min >= 0 ? json_integer(r->age_min) : json_null());
        json_object_set_new(o, "age_max",
                            r->age_max >= 0 ? json_integer(r->age_max) : json_null());
        json_object_set_new(o, "service",
                            r->service ? json_string(bd_service_name(r->service)) : json_null());
        json_object_set_new(o, "share_bp",
                            r->share_bp >= 0 ? json_integer(r->share_bp) : json_null());
        json_object_set_new(o, "fixed_fen",
                            r->fixed_fen >= 0 ? json_integer(r->fixed_fen) : json_null());
        json_object_set_new(o, "monthly_cap_fen",
                            r->monthly_cap_fen >= 0 ? json_integer(r->monthly_cap_fen)
                                                    : json_null());
        json_array_append_new(list, o);
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "rules", list));
}

/* ---- top-ups --------------------------------------------------------------------- */

typedef struct s_waiter {
    cc_http_req_t *req;
    struct s_waiter *next;
} s_waiter_t;

/* One idempotency key in flight: every request with that key waits on it. */
typedef struct {
    bd_app_t *app;
    char key[CC_IDEM_KEY_MAX + 1];
    char card_id[CC_UUID_LEN];
    int64_t amount;
    bd_source_t source;
    char *reference;             /* NULL when absent */
    char topup_id[CC_UUID_LEN];
    bd_topup_decision_t d;
    s_waiter_t *waiters;
} s_topup_t;

static void s_topup_free(s_topup_t *j)
{
    cc_map_remove(j->app->topups, j->key);
    while (j->waiters) {
        s_waiter_t *w = j->waiters;
        j->waiters = w->next;
        if (w->req)
            cc_http_reply_error(&w->req, 503, "unavailable", NULL, "shutting down");
        free(w);
    }
    free(j->reference);
    free(j);
}

static void s_topup_reply_ok(s_topup_t *j, const char *topup_id, int64_t available,
                             const char *outcome)
{
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, j->amount);
    cc_info("topup", "topup_id", topup_id, "outcome", outcome, "amount_fen", a);
    char name[96];
    snprintf(name, sizeof name, "billingd_topups_total{outcome=\"%s\"}", outcome);
    cc_metric_inc(cc_metrics_counter(name, "top-up requests by outcome"));
    for (s_waiter_t *w = j->waiters; w; w = w->next) {
        if (!w->req)
            continue;
        cc_metric_observe(j->app->m_topup_seconds, cc_http_age_s(w->req));
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "topup_id", topup_id, "card_id",
                              j->card_id, "amount_fen", (json_int_t)j->amount, "source",
                              bd_source_name(j->source), "available_fen",
                              (json_int_t)available);
        json_object_set_new(o, "reference", j->reference ? json_string(j->reference)
                                                         : json_null());
        cc_http_reply_json(&w->req, 201, o);
    }
}

static void s_topup_reply_err(s_topup_t *j, int status, const char *error, const char *field,
                              const char *message)
{
    char name[96];
    snprintf(name, sizeof name, "billingd_topups_total{outcome=\"%s\"}", error);
    cc_metric_inc(cc_metrics_counter(name, "top-up requests by outcome"));
    for (s_waiter_t *w = j->waiters; w; w = w->next)
        if (w->req)
            cc_http_reply_error(&w->req, status, error, field, message);
}

static int s_same_body(const s_topup_t *j, const char *card_id, int64_t amount, int source,
                       const char *reference)
{
    if (strcmp(j->card_id, card_id) != 0 || j->amount != amount || (int)j->source != source)
        return 0;
    if (!j->reference || !reference)
        return !j->reference && !reference;
    return strcmp(j->reference, reference) == 0;
}

static void s_on_topup_written(PGresult *res, void *arg)
{
    s_topup_t *j = arg;
    bd_app_t *app = j->app;
    app->writes_done++;
    if (cc_db_res_class(res) != CC_DB_OK) {
        /* Not stored: take its postings back out of memory, as for a
         * top-up the store refused as a replay. Balances are sums, so
         * this is exact whatever was decided since. */
        cc_err_t err;
        cc_rt_write_failed(&app->rt, bd_stmts[BD_ST_TOPUP].name, res, 0, &err);
        bd_ledger_revert(app->ledger, &j->d.postings);
        s_topup_reply_err(j, err.status, err.error, err.field[0] ? err.field : NULL,
                          err.message);
        s_topup_free(j);
        return;
    }
    if (!bd_res_ok(res))
        bd_fatal_sql(bd_stmts[BD_ST_TOPUP].name, res);
    const char *st = PQgetvalue(res, 0, 0);
    if (strcmp(st, "applied") == 0) {
        s_topup_reply_ok(j, j->topup_id, j->d.available_after_fen, "applied");
    } else if (strcmp(st, "replay") == 0 && strcmp(PQgetvalue(res, 0, 1), j->topup_id) == 0) {
        /* Our own top-up: cc_db re-sent a batch whose COMMIT had gone through
         * before the connection dropped. Memory already holds it. */
        cc_metric_inc(app->m_replays);
        s_topup_reply_ok(j, j->topup_id, j->d.available_after_fen, "applied");
    } else if (strcmp(st, "replay") == 0) {
        /* Committed earlier under this key by another request. */
        bd_ledger_revert(app->ledger, &j->d.postings);
        s_topup_reply_ok(j, PQgetvalue(res, 0, 1), strtoll(PQgetvalue(res, 0, 2), NULL, 10),
                         "replay");
    } else {
        bd_ledger_revert(app->ledger, &j->d.postings);
        s_topup_reply_err(j, 409, "idempotency_conflict", "Idempotency-Key",
                          "this Idempotency-Key was used with a different request");
    }
    s_topup_free(j);
}

static void s_topup_write(s_topup_t *j)
{
    bd_app_t *app = j->app;
    if (cc_rt_reloading(&app->rt)) {
        /* The lookup was queued before a reload began: the ledger is not
         * the store's yet. */
        s_topup_reply_err(j, 503, "reloading", NULL,
                          "reloading the working set after a store error, try again");
        s_topup_free(j);
        return;
    }
    const bd_card_t *card = bd_ledger_card(app->ledger, j->card_id);
    if (!card) {
        s_topup_reply_err(j, 404, "unknown_card", "card_id", "no such love card");
        s_topup_free(j);
        return;
    }
    if (card->status == BD_CARD_CLOSED) {
        s_topup_reply_err(j, 409, "card_closed", "card_id", "the card is closed");
        s_topup_free(j);
        return;
    }
    if (bd_ledger_decide_topup(app->ledger, j->card_id, j->amount, j->source, &j->d) < 0
        || bd_ledger_apply(app->ledger, &j->d.postings) < 0) {
        s_topup_reply_err(j, 422, "invalid_value", "amount_fen",
                          "the card's balance cannot take this amount");
        s_topup_free(j);
        return;
    }
    cc_uuid(j->topup_id);
    char transfer[CC_UUID_LEN], *accounts = NULL, *amounts = NULL;
    cc_uuid(transfer);
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_TOPUP]);
    cc_args_text(&a, "key", j->key);
    cc_args_text(&a, "topup", j->topup_id);
    cc_args_text(&a, "card", j->card_id);
    cc_args_int(&a, "amount", j->amount);
    cc_args_text(&a, "source", bd_source_name(j->source));
    cc_args_text(&a, "reference", j->reference);
    cc_args_int(&a, "arrears_paid", j->d.arrears_paid_fen);
    cc_args_int(&a, "available_after", j->d.available_after_fen);
    cc_args_text(&a, "transfer", transfer);
    int rc = bd_store_postings(&a, &j->d.postings, &accounts, &amounts) == 0
             ? cc_db_call(app->rt.writer, &a, s_on_topup_written, j)
             : -1;
    free(accounts);
    free(amounts);
    if (rc != 0) {
        bd_ledger_revert(app->ledger, &j->d.postings);
        s_topup_reply_err(j, 503, "unavailable", NULL, "database queue full");
        s_topup_free(j);
        return;
    }
    app->writes_issued++;
}

static void s_on_topup_lookup(PGresult *res, void *arg)
{
    s_topup_t *j = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_topup_reply_err(j, 503, "unavailable", NULL, "database unavailable, retry");
        s_topup_free(j);
        return;
    }
    if (PQntuples(res) == 0) {
        s_topup_write(j);
        return;
    }
    /* The key was used before: same request -> same answer; else 409. */
    const char *ref = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
    if (s_same_body(j, PQgetvalue(res, 0, 0), strtoll(PQgetvalue(res, 0, 1), NULL, 10),
                    bd_source_parse(PQgetvalue(res, 0, 2)), ref))
        s_topup_reply_ok(j, PQgetvalue(res, 0, 4), strtoll(PQgetvalue(res, 0, 5), NULL, 10),
                         "replay");
    else
        s_topup_reply_err(j, 409, "idempotency_conflict", "Idempotency-Key",
                          "this Idempotency-Key was used with a different request");
    s_topup_free(j);
}

int bd_http_read_topup(json_t *body, int64_t max_fen, int64_t *amount, int *source,
                       const char **reference, cc_err_t *err)
{
    static const char *const known[] = { "amount_fen", "source", "reference", NULL };
    static const char *const sources[] = { "family", "subsidy", "allowance", NULL };
    if (cc_json_only(body, known, err) < 0
        || cc_json_int(body, "amount_fen", 1, 1, max_fen, amount, err) < 0
        || cc_json_enum(body, "source", 1, sources, source, err) < 0
        || cc_json_str(body, "reference", 0, BD_REFERENCE_MAX, reference, err) < 0)
        return -1;
    return 0;
}

static void s_post_topup(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    bd_card_t *card = s_path_card(app, &req, s_post_topup);
    if (!card)
        return;
    const char *key = cc_http_idem_key(req);   /* required and checked by the guard */
    cc_err_t err;
    int64_t amount = 0;
    int source = -1;
    const char *reference = NULL;
    if (bd_http_read_topup(cc_http_json(req), app->max_topup_fen, &amount, &source, &reference,
                           &err) < 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    /* Money from the subsidy fund is the county's: only an admin books it
     * (the call-centre counter tops up family money and allowances). */
    const cc_jwt_claims_t *who = cc_http_claims(req);
    if (source == BD_SRC_SUBSIDY && who && who->role != CC_ROLE_ADMIN) {
        cc_http_reply_error(&req, 403, "forbidden", "source",
                            "only an admin may top up from the subsidy fund");
        return;
    }
    s_waiter_t *w = calloc(1, sizeof *w);
    if (!w) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    w->req = req;
    s_topup_t *j = cc_map_get(app->topups, key);
    if (j) {   /* the same key is in flight */
        if (!s_same_body(j, card->card_id, amount, source, reference)) {
            free(w);
            cc_http_reply_error(&req, 409, "idempotency_conflict", "Idempotency-Key",
                                "this Idempotency-Key is in use with a different request");
            return;
        }
        w->next = j->waiters;
        j->waiters = w;
        return;
    }
    j = calloc(1, sizeof *j);
    if (!j || (reference && !(j->reference = strdup(reference)))) {
        free(j);
        free(w);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->app = app;
    snprintf(j->key, sizeof j->key, "%s", key);
    snprintf(j->card_id, sizeof j->card_id, "%s", card->card_id);
    j->amount = amount;
    j->source = (bd_source_t)source;
    j->waiters = w;
    if (cc_map_put(app->topups, j->key, j, NULL) < 0) {
        j->waiters = NULL;
        free(j->reference);
        free(j);
        free(w);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    /* Was the key used before (maybe before a restart)? The reader sees every
     * committed top-up: keys in flight are in app->topups until answered. */
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_TOPUP_LOOKUP]);
    cc_args_text(&a, "key", j->key);
    if (cc_db_call(app->rt.reader, &a, s_on_topup_lookup, j) != 0) {
        s_topup_reply_err(j, 503, "unavailable", NULL, "database queue full");
        s_topup_free(j);
    }
}

static int s_free_job(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_topup_t *j = value;
    while (j->waiters) {
        s_waiter_t *w = j->waiters;
        j->waiters = w->next;
        if (w->req)
            cc_http_reply_error(&w->req, 503, "unavailable", NULL, "shutting down");
        free(w);
    }
    free(j->reference);
    free(j);
    return 1;
}

void bd_http_shutdown(bd_app_t *app)
{
    if (!app->topups)
        return;
    cc_map_each(app->topups, s_free_job, NULL);
    cc_map_destroy(&app->topups, NULL);
}

/* ---- balance, statement, hold ---------------------------------------------------- */

static void s_get_balance(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    bd_card_t *card = s_path_card(app, &req, s_get_balance);
    if (!card)
        return;
    cc_http_reply_json(&req, 200,
                       json_pack("{s:s, s:s, s:I, s:I, s:I}", "card_id", card->card_id,
                                 "status", bd_card_status_name(card->status), "available_fen",
                                 (json_int_t)card->available->balance, "held_fen",
                                 (json_int_t)card->held->balance, "arrears_fen",
                                 (json_int_t)-card->arrears->balance));
}

typedef struct {
    cc_http_req_t *req;
    char card_id[CC_UUID_LEN];
    bd_app_t *app;
    int rerun;                   /* the handler runs again after cc_rt_await */
} s_read_job_t;

static json_t *s_uuid_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_int_t s_int(PGresult *res, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void s_on_statement(PGresult *res, void *arg)
{
    s_read_job_t *j = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database unavailable, retry");
        free(j);
        return;
    }
    json_t *lines = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_pack("{s:s, s:s}", "transfer_id", PQgetvalue(res, i, 0), "kind",
                              PQgetvalue(res, i, 1));
        json_object_set_new(o, "at", s_time_json(strtoll(PQgetvalue(res, i, 2), NULL, 10)));
        json_object_set_new(o, "order_id", s_uuid_or_null(res, i, 3));
        json_object_set_new(o, "topup_id", s_uuid_or_null(res, i, 4));
        /* Arrears are a debit in the ledger; the API shows debt as positive. */
        json_object_set_new(o, "available_fen", json_integer(s_int(res, i, 5)));
        json_object_set_new(o, "held_fen", json_integer(s_int(res, i, 6)));
        json_object_set_new(o, "arrears_fen", json_integer(-s_int(res, i, 7)));
        json_object_set_new(o, "after",
                            json_pack("{s:I, s:I, s:I}", "available_fen", s_int(res, i, 8),
                                      "held_fen", s_int(res, i, 9), "arrears_fen",
                                      -s_int(res, i, 10)));
        json_array_append_new(lines, o);
    }
    cc_http_reply_json(&j->req, 200,
                       json_pack("{s:s, s:o}", "card_id", j->card_id, "transactions", lines));
    free(j);
}

static void s_get_transactions(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    bd_card_t *card = s_path_card(app, &req, s_get_transactions);
    if (!card)
        return;
    int64_t limit = app->statement_limit;
    const char *q = cc_http_query(req, "limit");
    if (q) {
        char *end = NULL;
        long long n = strtoll(q, &end, 10);
        if (!q[0] || *end || n < 1 || n > 1000) {
            cc_http_reply_error(&req, 400, "invalid_value", "limit",
                                "limit must be an integer from 1 to 1000");
            return;
        }
        limit = n;
    }
    s_read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->req = req;
    snprintf(j->card_id, sizeof j->card_id, "%s", card->card_id);
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_STATEMENT]);
    cc_args_text(&a, "card", j->card_id);
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(app->rt.reader, &a, s_on_statement, j) != 0) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database queue full");
        free(j);
    }
}

static void s_get_hold(cc_http_req_t *req, void *arg);

static void s_on_hold(PGresult *res, void *arg)
{
    s_read_job_t *j = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database unavailable, retry");
    } else if (PQntuples(res) == 0) {
        /* The decision is made when orderd's OrderPlaced is applied: the
         * order may have been placed a moment ago. */
        if (!j->rerun && cc_rt_await(&j->app->rt, &j->req, "orderd", s_get_hold)) {
            free(j);
            return;
        }
        cc_http_reply_error(&j->req, 404, "unknown_order", "order_id",
                            "billing has no decision on this order");
    } else {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s}", "order_id", PQgetvalue(res, 0, 0),
                              "card_id", PQgetvalue(res, 0, 1), "service",
                              PQgetvalue(res, 0, 2), "emergency",
                              PQgetvalue(res, 0, 3)[0] == 't', "state", PQgetvalue(res, 0, 4));
        const char *reason = PQgetvalue(res, 0, 5);
        json_object_set_new(o, "reason", reason[0] ? json_string(reason) : json_null());
        json_object_set_new(o, "price_fen", json_integer(s_int(res, 0, 6)));
        json_object_set_new(o, "subsidy_fen", json_integer(s_int(res, 0, 7)));
        json_object_set_new(o, "held_fen", json_integer(s_int(res, 0, 8)));
        json_object_set_new(o, "arrears_fen", json_integer(s_int(res, 0, 9)));
        const char *prov = PQgetvalue(res, 0, 10);
        json_object_set_new(o, "provider_id", prov[0] ? json_string(prov) : json_null());
        json_object_set_new(o, "created_at", s_time_json(s_int(res, 0, 11)));
        json_object_set_new(o, "updated_at", s_time_json(s_int(res, 0, 12)));
        /* What the producer that did the work reported (reconciliation). */
        json_t *d = json_null();
        if (!PQgetisnull(res, 0, 13)) {
            d = json_pack("{s:s, s:s}", "producer", PQgetvalue(res, 0, 13), "provider_id",
                          PQgetvalue(res, 0, 14));
            json_object_set_new(d, "completed_at", s_time_json(s_int(res, 0, 15)));
            json_object_set_new(d, "distance_m", s_int(res, 0, 16) >= 0
                                                     ? json_integer(s_int(res, 0, 16))
                                                     : json_null());
        }
        json_object_set_new(o, "delivery", d);
        cc_http_reply_json(&j->req, 200, o);
    }
    free(j);
}

static void s_get_hold(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    s_read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->req = req;
    j->app = app;
    j->rerun = cc_rt_rerun(&app->rt, req);
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_HOLD]);
    cc_args_text(&a, "order", cc_http_path_param(req, "order_id"));   /* a UUID: the guard */
    if (cc_db_call(app->rt.reader, &a, s_on_hold, j) != 0) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database queue full");
        free(j);
    }
}

static json_t *s_parse_list(PGresult *res, int col);

/* ---- reconciliation ------------------------------------------------------------ */

static void s_on_recon(PGresult *res, void *arg)
{
    s_read_job_t *j = arg;
    if (!bd_res_ok(res)) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database unavailable, retry");
        free(j);
        return;
    }
    json_t *a = s_parse_list(res, 2), *b = s_parse_list(res, 3), *c = s_parse_list(res, 4);
    int ok = json_array_size(a) == 0 && json_array_size(b) == 0 && json_array_size(c) == 0;
    cc_http_reply_json(&j->req, 200,
                       json_pack("{s:b, s:I, s:I, s:o, s:o, s:o}", "ok", ok, "captured",
                                 s_int(res, 0, 0), "delivered", s_int(res, 0, 1),
                                 "captured_undelivered", a, "delivered_uncaptured", b,
                                 "provider_mismatch", c));
    free(j);
}

static void s_get_recon(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    long long grace = 60;
    const char *q = cc_http_query(req, "grace_s");
    if (q) {
        char *end = NULL;
        grace = strtoll(q, &end, 10);
        if (!q[0] || *end || grace < 0 || grace > CC_S_PER_DAY) {
            cc_http_reply_error(&req, 400, "invalid_value", "grace_s",
                                "grace_s must be an integer from 0 to 86400");
            return;
        }
    }
    s_read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    j->req = req;
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_RECON]);
    cc_args_int(&a, "grace_s", grace);
    if (cc_db_call(app->rt.reader, &a, s_on_recon, j) != 0) {
        cc_http_reply_error(&j->req, 503, "unavailable", NULL, "database queue full");
        free(j);
    }
}

/* ---- ledger check ---------------------------------------------------------------- */

#define S_CHECK_ATTEMPTS 40
#define S_CHECK_RETRY_MS 50
#define S_CHECK_LIST_MAX 100

typedef struct {
    bd_app_t *app;
    cc_http_req_t *req;
    int attempts;
    uint64_t writes_at_issue;    /* writes_done when queued; writer was idle */
    struct event *ev_retry;
    json_t *memory;              /* mismatches found while comparing */
    json_t *store_balances;
} s_check_t;

static void s_check_issue(s_check_t *c);

static int s_writer_quiet(const bd_app_t *app)
{
    return app->writes_issued == app->writes_done;
}

typedef struct {
    json_t *store;               /* account -> balance from postings */
    json_t *out;                 /* mismatches */
} s_cmp_t;

static void s_cmp_memory(const bd_account_t *a, void *arg)
{
    s_cmp_t *c = arg;
    json_t *s = json_object_get(c->store, a->name);
    json_int_t stored = s ? json_integer_value(s) : 0;
    if (stored != a->balance && json_array_size(c->out) < S_CHECK_LIST_MAX)
        json_array_append_new(c->out, json_pack("{s:s, s:I, s:I}", "account", a->name,
                                                "memory_fen", (json_int_t)a->balance,
                                                "store_fen", stored));
}

static json_t *s_parse_list(PGresult *res, int col)
{
    json_t *j = json_loads(PQgetvalue(res, 0, col), 0, NULL);
    return j ? j : json_array();
}

static void s_check_free(s_check_t *c)
{
    c->app->check_busy = 0;
    event_free(c->ev_retry);
    free(c);
}

static void s_on_check(PGresult *res, void *arg)
{
    s_check_t *c = arg;
    bd_app_t *app = c->app;
    if (!bd_res_ok(res)) {
        cc_http_reply_error(&c->req, 503, "unavailable", NULL, "database unavailable, retry");
        s_check_free(c);
        return;
    }
    int quiet = c->writes_at_issue == app->writes_done && s_writer_quiet(app)
                && !cc_rt_reloading(&app->rt);
    if (!quiet && ++c->attempts < S_CHECK_ATTEMPTS) {
        /* Writes committed around the read: memory and snapshot may differ in
         * time, not in truth. Try again when the writer is idle. */
        struct timeval tv = { 0, S_CHECK_RETRY_MS * CC_US_PER_MS };
        evtimer_add(c->ev_retry, &tv);
        return;
    }
    json_t *unbalanced = s_parse_list(res, 1);
    json_t *negative = s_parse_list(res, 2);
    json_t *stale = s_parse_list(res, 3);
    json_t *holds = s_parse_list(res, 4);
    json_t *orphans = s_parse_list(res, 6);
    json_t *amounts = s_parse_list(res, 7);
    json_t *memory = json_array();
    if (quiet) {
        json_t *store = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
        if (store) {
            s_cmp_t cmp = { store, memory };
            bd_ledger_foreach_account(app->ledger, s_cmp_memory, &cmp);
            /* Accounts the store has and memory lacks. */
            const char *k;
            json_t *v;
            json_object_foreach(store, k, v) {
                if (!bd_ledger_account(app->ledger, k) && json_integer_value(v) != 0
                    && json_array_size(memory) < S_CHECK_LIST_MAX)
                    json_array_append_new(memory, json_pack("{s:s, s:I, s:I}", "account", k,
                                                            "memory_fen", (json_int_t)0,
                                                            "store_fen", json_integer_value(v)));
            }
            json_decref(store);
        }
    }
    int ok = json_array_size(unbalanced) == 0 && json_array_size(negative) == 0
             && json_array_size(stale) == 0 && json_array_size(holds) == 0
             && json_array_size(orphans) == 0 && json_array_size(amounts) == 0
             && json_array_size(memory) == 0;
    bd_totals_t t;
    bd_ledger_totals(app->ledger, &t);
    json_t *o = json_pack("{s:b, s:I, s:o, s:o, s:o, s:o, s:o, s:b}", "ok", ok, "transfers",
                          s_int(res, 0, 0), "unbalanced", unbalanced, "negative", negative,
                          "stale_balances", stale, "holds_mismatch", holds,
                          "memory_mismatch", memory, "memory_checked", quiet);
    json_object_set_new(o, "holds_without_order", orphans);
    json_object_set_new(o, "hold_amount_mismatch", amounts);
    json_object_set_new(o, "totals",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "available_fen",
                                  (json_int_t)t.available_fen, "held_fen",
                                  (json_int_t)t.held_fen, "arrears_fen",
                                  (json_int_t)t.arrears_fen, "payable_fen",
                                  (json_int_t)t.payable_fen, "subsidy_spent_fen",
                                  (json_int_t)t.subsidy_spent_fen, "topped_up_fen",
                                  (json_int_t)t.topped_up_fen));
    if (!ok)
        cc_warn("ledger_check_failed");
    cc_http_reply_json(&c->req, 200, o);
    s_check_free(c);
}

static void s_check_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_check_issue(arg);
}

static void s_check_issue(s_check_t *c)
{
    c->writes_at_issue = s_writer_quiet(c->app) ? c->app->writes_done : UINT64_MAX;
    cc_args_t a;
    cc_args_init(&a, &bd_stmts[BD_ST_CHECK]);
    if (cc_db_call(c->app->checker, &a, s_on_check, c) != 0) {
        cc_http_reply_error(&c->req, 503, "unavailable", NULL, "database queue full");
        s_check_free(c);
    }
}

static void s_get_check(cc_http_req_t *req, void *arg)
{
    bd_app_t *app = arg;
    if (app->check_busy) {
        cc_http_reply_error_hdr(&req, 503, "busy", NULL, "a ledger check is running; try again",
                                "Retry-After", "5");
        return;
    }
    s_check_t *c = calloc(1, sizeof *c);
    if (!c || !(c->ev_retry = evtimer_new(app->rt.base, s_check_retry, c))) {
        free(c);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "out of memory");
        return;
    }
    c->app = app;
    c->req = req;
    app->check_busy = 1;
    cc_http_set_deadline(req, (int)app->check_timeout_ms + 2000);
    s_check_issue(c);
}

/* Ids in paths ({card_id}, {order_id}) are checked and lower-cased by the
 * runtime's guards, which also answer 503 until the ledger is loaded. */
#define OPERATOR CC_ROLE_OPERATOR
#define FAMILY CC_ROLE_FAMILY
#define AUDITOR CC_ROLE_AUDITOR
#define ADMIN CC_ROLE_ADMIN

/* Who may call what (roles; docs/API.md is generated from this table). A
 * family account sees its own elder's card only (s_path_card); a subsidy
 * top-up needs an admin (s_post_topup). */
const cc_http_route_t bd_http_routes[] = {
    { "GET", "/v1/prices", s_get_prices, 0, OPERATOR | FAMILY | AUDITOR | ADMIN },
    { "PUT", "/v1/prices/{service}", s_put_price, CC_ROUTE_JSON, ADMIN },
    { "GET", "/v1/subsidy-rules", s_get_rules, 0, OPERATOR | FAMILY | AUDITOR | ADMIN },
    { "POST", "/v1/cards/{card_id}/topups", s_post_topup, CC_ROUTE_IDEM | CC_ROUTE_JSON,
      OPERATOR | ADMIN },
    { "GET", "/v1/cards/{card_id}/balance", s_get_balance, 0, OPERATOR | FAMILY | AUDITOR },
    { "GET", "/v1/cards/{card_id}/transactions", s_get_transactions, 0,
      OPERATOR | FAMILY | AUDITOR },
    { "GET", "/v1/holds/{order_id}", s_get_hold, 0, OPERATOR | AUDITOR },
    { "GET", "/v1/ledger/check", s_get_check, 0, AUDITOR | ADMIN },
    { "GET", "/v1/reconciliation", s_get_recon, 0, AUDITOR | ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};
