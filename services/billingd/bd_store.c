/* bd_store: see bd_store.h. */
#include "bd_store.h"
#include "cc_revoke.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cc_log.h"
#include "cc_rt.h"

#define W CC_STMT_WRITER
#define R CC_STMT_READER
/* The effect functions' common head: the event being consumed. */
#define S_CONSUMED { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID }
/* A transfer's postings (bd_post). */
#define S_POSTINGS { "transfer", CC_T_UUID }, { "accounts", CC_T_TEXT_ARRAY }, \
                   { "amounts", CC_T_INT8_ARRAY }
#define S_NONE { { NULL, CC_T_NONE } }

cc_stmt_t bd_stmts[BD_ST_COUNT + 1] = {
    [BD_ST_CARD_ISSUED] = { "bd_card_issued", W, "bd_card_issued", NULL, NULL,
        { S_CONSUMED, { "card", CC_T_UUID }, { "elder", CC_T_TEXT },
          { "district", CC_T_INT4 }, { "household", CC_T_TEXT }, { "age", CC_T_INT4 } }, NULL },
    [BD_ST_CARD_STATUS] = { "bd_card_status", W, "bd_card_status", NULL, NULL,
        { S_CONSUMED, { "card", CC_T_UUID }, { "status", CC_T_TEXT } }, NULL },
    [BD_ST_ORDER_PLACED] = { "bd_order_placed", W, "bd_order_placed", NULL, NULL,
        { S_CONSUMED, { "order", CC_T_UUID }, { "card", CC_T_TEXT }, { "district", CC_T_INT4 },
          { "service", CC_T_TEXT }, { "emergency", CC_T_BOOL }, { "state", CC_T_TEXT },
          { "reason", CC_T_TEXT }, { "price", CC_T_INT8 }, { "subsidy", CC_T_INT8 },
          { "held", CC_T_INT8 }, { "arrears", CC_T_INT8 }, { "rule", CC_T_INT4 },
          { "month", CC_T_INT4 }, S_POSTINGS, { "out_type", CC_T_TEXT },
          { "out_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [BD_ST_ORDER_CLOSED] = { "bd_order_closed", W, "bd_order_closed", NULL, NULL,
        { S_CONSUMED, { "order", CC_T_UUID }, { "state", CC_T_TEXT }, { "reason", CC_T_TEXT },
          { "provider", CC_T_TEXT }, { "held", CC_T_INT8 }, S_POSTINGS,
          { "out_type", CC_T_TEXT }, { "out_id", CC_T_UUID }, { "district", CC_T_INT4 },
          { "payload", CC_T_BYTEA } }, NULL },
    [BD_ST_TOPUP] = { "bd_topup", W, "bd_topup", "r_status, r_topup_id, r_available_fen", NULL,
        { { "key", CC_T_TEXT }, { "topup", CC_T_UUID }, { "card", CC_T_UUID },
          { "amount", CC_T_INT8 }, { "source", CC_T_TEXT }, { "reference", CC_T_TEXT },
          { "arrears_paid", CC_T_INT8 }, { "available_after", CC_T_INT8 }, S_POSTINGS },
        NULL },
    [BD_ST_SET_PRICE] = { "bd_set_price", W, "bd_set_price", NULL, NULL,
        { { "service", CC_T_TEXT }, { "price", CC_T_INT8 } }, NULL },
    [BD_ST_DELIVERED] = { "bd_delivered", W, "bd_delivered", NULL, NULL,
        { S_CONSUMED, { "order", CC_T_UUID }, { "provider", CC_T_TEXT }, { "visit", CC_T_TEXT },
          { "caregiver", CC_T_TEXT }, { "meal_point", CC_T_TEXT }, { "started_us", CC_T_INT8 },
          { "completed_us", CC_T_INT8 }, { "distance", CC_T_INT4 } }, NULL },
    [BD_ST_LOAD_PRICES] = { "bd_load_prices", R, NULL, NULL,
        "SELECT service, price_fen FROM prices", S_NONE, NULL },
    [BD_ST_LOAD_RULES] = { "bd_load_rules", R, NULL, NULL,
        "SELECT rule_id, coalesce(district_id, -1), coalesce(household, ''), "
        "coalesce(age_min, -1), coalesce(age_max, -1), coalesce(service, ''), "
        "coalesce(share_bp, -1), coalesce(fixed_fen, -1), coalesce(monthly_cap_fen, -1) "
        "FROM subsidy_rules WHERE active ORDER BY rule_id", S_NONE, NULL },
    [BD_ST_LOAD_CARDS] = { "bd_load_cards", R, NULL, NULL,
        "SELECT card_id, status, district_id, household, age_years, elder_id FROM cards",
        S_NONE, NULL },
    [BD_ST_LOAD_ACCOUNTS] = { "bd_load_accounts", R, NULL, NULL,
        "SELECT account, balance FROM accounts", S_NONE, NULL },
    [BD_ST_LOAD_HOLDS] = { "bd_load_holds", R, NULL, NULL,
        "SELECT order_id, card_id, service, emergency, district_id, price_fen, subsidy_fen, "
        "held_fen, arrears_fen, coalesce(rule_id, 0), coalesce(month, 0) "
        "FROM holds WHERE state = 'held'", S_NONE, NULL },
    /* Caps are monthly: last month's usage still matters for holds placed
     * just before midnight on the 1st and released after. */
    [BD_ST_LOAD_USAGE] = { "bd_load_usage", R, NULL, NULL,
        "SELECT card_id, rule_id, month, used_fen FROM subsidy_usage "
        "WHERE month >= to_char(now() - interval '62 days', 'YYYYMM')::int", S_NONE, NULL },
    [BD_ST_TOPUP_LOOKUP] = { "bd_topup_lookup", R, NULL, NULL,
        "SELECT card_id, amount_fen, source, reference, topup_id, available_after_fen "
        "FROM topups WHERE idempotency_key = $1::text", { { "key", CC_T_TEXT } }, NULL },
    [BD_ST_STATEMENT] = { "bd_statement", R, "bd_statement",
        "transfer_id, kind, time_us, order_id, topup_id, available_fen, held_fen, "
        "arrears_fen, available_after, held_after, arrears_after", NULL,
        { { "card", CC_T_UUID }, { "limit", CC_T_INT4 } }, NULL },
    /* One statement, one snapshot: the invariants and the balances that the
     * daemon compares with its memory. */
    /* Also on the reader, so that the runtime checks it against the catalogue. */
    [BD_ST_CHECK] = { "bd_ledger_check", R | BD_STMT_CHECKER, NULL, NULL,
        "SELECT c.r_transfers, c.r_unbalanced::text, c.r_negative::text, c.r_stale::text, "
        "c.r_holds::text, (SELECT coalesce(jsonb_object_agg(b.account, b.balance), '{}') "
        "FROM bd_balances_from_postings() b)::text, c.r_orphan_holds::text, "
        "c.r_hold_amounts::text FROM bd_ledger_check() c", S_NONE, NULL },
    [BD_ST_HOLD] = { "bd_hold_get", R, NULL, NULL,
        "SELECT h.order_id, h.card_id, h.service, h.emergency, h.state, coalesce(h.reason, ''), "
        "h.price_fen, h.subsidy_fen, h.held_fen, h.arrears_fen, coalesce(h.provider_id, ''), "
        "(extract(epoch FROM h.created_at) * 1000000)::bigint, "
        "(extract(epoch FROM h.updated_at) * 1000000)::bigint, "
        "d.producer, d.provider_id, "
        "coalesce((extract(epoch FROM d.completed_at) * 1000000)::bigint, 0), "
        "coalesce(d.distance_m, -1) "
        "FROM holds h LEFT JOIN deliveries d USING (order_id) WHERE h.order_id = $1::uuid",
        { { "order", CC_T_UUID } }, NULL },
    [BD_ST_RECON] = { "bd_reconciliation", R, "bd_reconciliation",
        "r_captured, r_delivered, r_captured_undelivered::text, "
        "r_delivered_uncaptured::text, r_provider_mismatch::text", NULL,
        { { "grace_s", CC_T_INT4 } }, NULL },
    [BD_ST_ACCOUNT_CHANGED] = CC_REVOKE_STMT_APPLY,
    [BD_ST_ACCOUNT_GENS] = CC_REVOKE_STMT_LOAD,
    [BD_ST_COUNT] = { NULL, 0, NULL, NULL, NULL, S_NONE, NULL },
};

void bd_fatal_sql(const char *stmt, PGresult *res)
{
    cc_db_fatal(stmt, res);     /* the one rule (cc_db.h) */
}

int bd_res_ok(PGresult *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
}

/* ---- start-up load ------------------------------------------------------------ */

static int64_t s_i64(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int s_load_prices(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int svc = bd_service_parse(PQgetvalue(res, i, 0));
        if (bd_pricing_set_price(app->pricing, svc, s_i64(res, i, 1)) < 0)
            cc_warn("load_price_skipped", "service", PQgetvalue(res, i, 0));
    }
    return 0;
}

static int s_load_rules(bd_app_t *app, PGresult *res)
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
    return 0;
}

static int s_load_cards(bd_app_t *app, PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        bd_card_t *c = bd_ledger_open_card(app->ledger, PQgetvalue(res, i, 0),
                                           (uint32_t)s_i64(res, i, 2), PQgetvalue(res, i, 3),
                                           (int)s_i64(res, i, 4));
        if (!c)
            return -1;
        snprintf(c->elder_id, sizeof c->elder_id, "%s", PQgetvalue(res, i, 5));
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

/* The load, in queue order on the reader: cards before accounts (card
 * accounts need their card), holds after. */
typedef int (s_loader_fn)(bd_app_t *app, PGresult *res);
static const struct {
    bd_st_t st;
    s_loader_fn *fn;
} s_loads[] = {
    { BD_ST_LOAD_PRICES, s_load_prices }, { BD_ST_LOAD_RULES, s_load_rules },
    { BD_ST_LOAD_CARDS, s_load_cards },   { BD_ST_LOAD_ACCOUNTS, s_load_accounts },
    { BD_ST_LOAD_HOLDS, s_load_holds },   { BD_ST_LOAD_USAGE, s_load_usage },
};
#define S_LOADS (sizeof s_loads / sizeof s_loads[0])

static void s_loaded(bd_app_t *app)
{
    char cards[24], holds[24];
    snprintf(cards, sizeof cards, "%zu", bd_ledger_card_count(app->ledger));
    snprintf(holds, sizeof holds, "%zu", bd_ledger_hold_count(app->ledger));
    cc_info("working_set_loaded", "cards", cards, "open_holds", holds);
    bd_app_update_gauges(app);
    cc_rt_loaded(&app->rt);
}

/* One load query in flight; static: a stop before the load ends must not
 * leak, and there is one load per process. */
typedef struct {
    bd_app_t *app;
    size_t i;                    /* index in s_loads */
} s_load_t;
static s_load_t s_load[S_LOADS];

static void s_on_load(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    bd_app_t *app = l->app;
    const char *stmt = bd_stmts[s_loads[l->i].st].name;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* Not a write, but without its working set the daemon cannot decide. */
        bd_fatal_sql(stmt, res);
    }
    if (s_loads[l->i].fn(app, res) < 0) {
        cc_error("load_failed", "stmt", stmt, "reason", "bad row or out of memory");
        exit(1);
    }
    char n[24];
    snprintf(n, sizeof n, "%d", PQntuples(res));
    cc_debug("loaded", "stmt", stmt, "rows", n);
    if (--app->load_left == 0)
        s_loaded(app);
}

int bd_store_load(void *arg)
{
    bd_app_t *app = arg;
    app->load_left = (int)S_LOADS;
    for (size_t i = 0; i < S_LOADS; i++) {
        s_load[i] = (s_load_t){ app, i };
        cc_args_t a;
        cc_args_init(&a, &bd_stmts[s_loads[i].st]);
        if (cc_db_call(app->rt.reader, &a, s_on_load, &s_load[i]) != 0)
            return -1;
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

int bd_store_postings(cc_args_t *a, const bd_postings_t *p, char **accounts, char **amounts)
{
    *accounts = bd_pg_text_array(p);
    *amounts = bd_pg_bigint_array(p);
    if (!*accounts || !*amounts) {
        free(*accounts);
        free(*amounts);
        *accounts = *amounts = NULL;
        return -1;
    }
    cc_args_text(a, "accounts", *accounts);
    cc_args_text(a, "amounts", *amounts);
    return 0;
}
