/* bd_store: see bd_store.h. */
#include "bd_store.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cc_log.h"

typedef struct {
    const char *name;
    const char *sql;
} s_stmt_t;

static const s_stmt_t s_writer_stmts[] = {
    { BD_SQL_CARD_ISSUED, "SELECT bd_card_issued($1, $2, $3, $4, $5, $6, $7, $8)" },
    { BD_SQL_CARD_STATUS, "SELECT bd_card_status($1, $2, $3, $4, $5)" },
    { BD_SQL_ORDER_PLACED,
      "SELECT bd_order_placed($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
      "$15, $16, $17, $18, $19, $20, $21, $22)" },
    { BD_SQL_ORDER_CLOSED,
      "SELECT bd_order_closed($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)" },
    { BD_SQL_TOPUP,
      "SELECT r_status, r_topup_id, r_available_fen "
      "FROM bd_topup($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)" },
    { BD_SQL_SET_PRICE, "SELECT bd_set_price($1, $2)" },
    { BD_SQL_DELIVERED,
      "SELECT bd_delivered($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)" },
    { NULL, NULL },
};

static const s_stmt_t s_reader_stmts[] = {
    { "bd_load_prices", "SELECT service, price_fen FROM prices" },
    { "bd_load_rules",
      "SELECT rule_id, coalesce(district_id, -1), coalesce(household, ''), "
      "coalesce(age_min, -1), coalesce(age_max, -1), coalesce(service, ''), "
      "coalesce(share_bp, -1), coalesce(fixed_fen, -1), coalesce(monthly_cap_fen, -1) "
      "FROM subsidy_rules WHERE active ORDER BY rule_id" },
    { "bd_load_cards", "SELECT card_id, status, district_id, household, age_years FROM cards" },
    { "bd_load_accounts", "SELECT account, balance FROM accounts" },
    { "bd_load_holds",
      "SELECT order_id, card_id, service, emergency, district_id, price_fen, subsidy_fen, "
      "held_fen, arrears_fen, coalesce(rule_id, 0), coalesce(month, 0) "
      "FROM holds WHERE state = 'held'" },
    /* Caps are monthly: last month's usage still matters for holds placed
     * just before midnight on the 1st and released after. */
    { "bd_load_usage",
      "SELECT card_id, rule_id, month, used_fen FROM subsidy_usage "
      "WHERE month >= to_char(now() - interval '62 days', 'YYYYMM')::int" },
    { BD_SQL_TOPUP_LOOKUP,
      "SELECT card_id, amount_fen, source, reference, topup_id, available_after_fen "
      "FROM topups WHERE idempotency_key = $1" },
    { BD_SQL_STATEMENT,
      "SELECT transfer_id, kind, time_us, order_id, topup_id, available_fen, held_fen, "
      "arrears_fen, available_after, held_after, arrears_after FROM bd_statement($1, $2)" },
    /* One statement, one snapshot: the invariants and the balances that the
     * daemon compares with its memory. */
    { BD_SQL_CHECK,
      "SELECT c.r_transfers, c.r_unbalanced::text, c.r_negative::text, c.r_stale::text, "
      "c.r_holds::text, (SELECT coalesce(jsonb_object_agg(b.account, b.balance), '{}') "
      "FROM bd_balances_from_postings() b)::text FROM bd_ledger_check() c" },
    { BD_SQL_HOLD,
      "SELECT h.order_id, h.card_id, h.service, h.emergency, h.state, coalesce(h.reason, ''), "
      "h.price_fen, h.subsidy_fen, h.held_fen, h.arrears_fen, coalesce(h.provider_id, ''), "
      "(extract(epoch FROM h.created_at) * 1000000)::bigint, "
      "(extract(epoch FROM h.updated_at) * 1000000)::bigint, "
      "d.producer, d.provider_id, "
      "coalesce((extract(epoch FROM d.completed_at) * 1000000)::bigint, 0), "
      "coalesce(d.distance_m, -1) "
      "FROM holds h LEFT JOIN deliveries d USING (order_id) WHERE h.order_id = $1" },
    { BD_SQL_RECON,
      "SELECT r_captured, r_delivered, r_captured_undelivered::text, "
      "r_delivered_uncaptured::text, r_provider_mismatch::text FROM bd_reconciliation($1)" },
    { NULL, NULL },
};

int bd_store_prepare(bd_app_t *app)
{
    for (const s_stmt_t *s = s_writer_stmts; s->name; s++)
        if (cc_db_prepare(app->writer, s->name, s->sql) != 0)
            return -1;
    for (const s_stmt_t *s = s_reader_stmts; s->name; s++)
        if (cc_db_prepare(app->reader, s->name, s->sql) != 0)
            return -1;
    return 0;
}

void bd_fatal_sql(const char *stmt, PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    cc_error("sql_failed", "stmt", stmt, "sqlstate", state ? state : "",
             "constraint", constraint ? constraint : "",
             "status", res ? PQresStatus(PQresultStatus(res)) : "none",
             "action", "exit: memory and store may disagree; restart reloads");
    exit(1);
}

int bd_res_ok(PGresult *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
}

/* ---- start-up load ------------------------------------------------------------ */

typedef struct {
    bd_app_t *app;
    void (*done)(bd_app_t *app);
    const char *stmt;
} s_load_t;

static int64_t s_i64(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void s_load_prices(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int svc = bd_service_parse(PQgetvalue(res, i, 0));
        if (bd_pricing_set_price(app->pricing, svc, s_i64(res, i, 1)) < 0)
            cc_warn("load_price_skipped", "service", PQgetvalue(res, i, 0));
    }
}

static void s_load_rules(bd_app_t *app, PGresult *res)
{
    bd_pricing_clear_rules(app->pricing);
    for (int i = 0; i < PQntuples(res); i++) {
        bd_rule_t r;
        memset(&r, 0, sizeof r);
        r.rule_id = (int)s_i64(res, i, 0);
        r.district_id = s_i64(res, i, 1);
        snprintf(r.household, sizeof r.household, "%s", PQgetvalue(res, i, 2));
        r.age_min = (int)s_i64(res, i, 3);
        r.age_max = (int)s_i64(res, i, 4);
        const char *svc = PQgetvalue(res, i, 5);
        r.service = svc[0] ? bd_service_parse(svc) : 0;
        r.share_bp = (int)s_i64(res, i, 6);
        r.fixed_fen = s_i64(res, i, 7);
        r.monthly_cap_fen = s_i64(res, i, 8);
        if (bd_pricing_add_rule(app->pricing, &r) < 0)
            cc_warn("load_rule_skipped", "rule_id", PQgetvalue(res, i, 0));
    }
}

static int s_load_cards(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        bd_card_t *c = bd_ledger_open_card(app->ledger, PQgetvalue(res, i, 0),
                                           (uint32_t)s_i64(res, i, 2), PQgetvalue(res, i, 3),
                                           (int)s_i64(res, i, 4));
        if (!c)
            return -1;
        int st = bd_card_status_parse(PQgetvalue(res, i, 1));
        c->status = st < 0 ? BD_CARD_BLOCKED : (bd_card_status_t)st;
    }
    return 0;
}

static int s_load_accounts(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (bd_ledger_load_balance(app->ledger, PQgetvalue(res, i, 0), s_i64(res, i, 1)) < 0)
            return -1;
    return 0;
}

static int s_load_holds(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        bd_hold_t h;
        memset(&h, 0, sizeof h);
        snprintf(h.order_id, sizeof h.order_id, "%s", PQgetvalue(res, i, 0));
        snprintf(h.card_id, sizeof h.card_id, "%s", PQgetvalue(res, i, 1));
        h.service = bd_service_parse(PQgetvalue(res, i, 2));
        h.emergency = PQgetvalue(res, i, 3)[0] == 't';
        h.district_id = (uint32_t)s_i64(res, i, 4);
        h.price_fen = s_i64(res, i, 5);
        h.subsidy_fen = s_i64(res, i, 6);
        h.held_fen = s_i64(res, i, 7);
        h.arrears_fen = s_i64(res, i, 8);
        h.rule_id = (int)s_i64(res, i, 9);
        h.month = (int)s_i64(res, i, 10);
        if (bd_ledger_add_hold(app->ledger, &h) < 0)
            return -1;
    }
    return 0;
}

static int s_load_usage(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (bd_ledger_usage_add(app->ledger, PQgetvalue(res, i, 0), (int)s_i64(res, i, 1),
                                (int)s_i64(res, i, 2), s_i64(res, i, 3)) < 0)
            return -1;
    return 0;
}

static void s_on_load(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    bd_app_t *app = l->app;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* Not a write, but without its working set the daemon cannot decide. */
        bd_fatal_sql(l->stmt, res);
    }
    int rc = 0;
    if (strcmp(l->stmt, "bd_load_prices") == 0)
        s_load_prices(app, res);
    else if (strcmp(l->stmt, "bd_load_rules") == 0)
        s_load_rules(app, res);
    else if (strcmp(l->stmt, "bd_load_cards") == 0)
        rc = s_load_cards(app, res);
    else if (strcmp(l->stmt, "bd_load_accounts") == 0)
        rc = s_load_accounts(app, res);
    else if (strcmp(l->stmt, "bd_load_holds") == 0)
        rc = s_load_holds(app, res);
    else if (strcmp(l->stmt, "bd_load_usage") == 0)
        rc = s_load_usage(app, res);
    if (rc < 0) {
        cc_error("load_failed", "stmt", l->stmt, "reason", "bad row or out of memory");
        exit(1);
    }
    char n[24];
    snprintf(n, sizeof n, "%d", PQntuples(res));
    cc_debug("loaded", "stmt", l->stmt, "rows", n);
    if (--app->load_left == 0) {
        app->loaded = 1;
        l->done(app);
    }
    free(l);
}

int bd_store_load(bd_app_t *app, void (*done)(bd_app_t *app))
{
    /* Cards before accounts (card accounts need their card), holds after. */
    static const char *const order[] = {
        "bd_load_prices", "bd_load_rules", "bd_load_cards", "bd_load_accounts",
        "bd_load_holds", "bd_load_usage", NULL,
    };
    app->loaded = 0;
    for (int i = 0; order[i]; i++) {
        s_load_t *l = calloc(1, sizeof *l);
        if (!l)
            return -1;
        l->app = app;
        l->done = done;
        l->stmt = order[i];
        app->load_left++;
        if (cc_db_exec(app->reader, order[i], 0, NULL, NULL, NULL, s_on_load, l) != 0) {
            free(l);
            return -1;
        }
    }
    return 0;
}

/* ---- array literals ----------------------------------------------------------- */

char *bd_pg_text_array(const bd_postings_t *p)
{
    /* Worst case every character escaped, plus quotes and commas. */
    size_t cap = 3;
    for (int i = 0; i < p->n; i++)
        cap += 2 * strlen(p->account[i]) + 3;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *w = out;
    *w++ = '{';
    for (int i = 0; i < p->n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *s = p->account[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *w++ = '\\';
            *w++ = *s;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

char *bd_pg_bigint_array(const bd_postings_t *p)
{
    size_t cap = 3 + (size_t)p->n * 22;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    out[n++] = '{';
    for (int i = 0; i < p->n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%" PRId64, i ? "," : "", p->amount[i]);
    out[n++] = '}';
    out[n] = '\0';
    return out;
}
