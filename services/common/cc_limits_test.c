/* cc_limits_test: the SQL holds the limits C holds (cc_limits.h).
 *
 * For every row of cc_limits() and every daemon schema of the migrated
 * database in CC_TEST_DB, the domain is probed with values at each bound
 * (must pass) and one step beyond (must fail); each column the row names
 * must have the domain as its type and no one-column CHECK of its own (a
 * second rule that could disagree, like dispatchd's old 63-byte provider_id).
 * The planted tests build domains and a column that disagree by one step
 * and show that each check fails on them. Also the overflow-safe helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_limits.h"

static const char *const s_schemas[] = { "orderd", "dispatchd", "meald", "billingd" };
static PGconn *s_conn;

#define SKIP_WITHOUT_DB()                                                               \
    do {                                                                                \
        if (!s_conn) {                                                                  \
            printf("skipped: CC_TEST_DB is not set (no PostgreSQL to test against)\n"); \
            skip();                                                                     \
        }                                                                               \
    } while (0)

static void s_exec(const char *sql)
{
    PGresult *r = PQexec(s_conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(s_conn));
    PQclear(r);
}

/* The SQL expression of the probe value v (kind l->kind) cast to dom. */
static void s_probe_sql(const cc_limit_t *l, const char *dom, char *out, size_t n)
{
    switch (l->kind) {
    case CC_LIMIT_LEN:
        snprintf(out, n, "SELECT repeat('x', $1::int)::%s", dom);
        break;
    case CC_LIMIT_INT:
        snprintf(out, n, "SELECT $1::numeric::%s", dom);
        break;
    case CC_LIMIT_REAL:
        snprintf(out, n, "SELECT $1::float8::%s", dom);
        break;
    case CC_LIMIT_TIME:   /* seconds and microseconds apart: exact in float8 */
        snprintf(out, n, "SELECT (to_timestamp(0) + div($1::numeric, 1000000) * interval '1 s'"
                         " + mod($1::numeric, 1000000) * interval '1 us')::%s", dom);
        break;
    }
}

/* 1 if the value text v is admitted by dom, 0 if refused. */
static int s_admits(const cc_limit_t *l, const char *dom, const char *v)
{
    char sql[512];
    s_probe_sql(l, dom, sql, sizeof sql);
    const char *params[1] = { v };
    PGresult *r = PQexecParams(s_conn, sql, 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

/* 0 if schema.domain admits exactly l->min..l->max (probed at each bound
 * and one step beyond); else -1 with why. */
static int s_domain_agrees(const char *schema, const cc_limit_t *l, char *why, size_t n)
{
    char dom[128], v[64];
    snprintf(dom, sizeof dom, "%s.%s", schema, l->domain);
    /* Each bound admitted, one step beyond it refused. */
    struct { int64_t off; int want; int is_max; } probes[] = {
        { 0, 1, 0 }, { -1, 0, 0 }, { 0, 1, 1 }, { 1, 0, 1 },
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        int64_t base = probes[i].is_max ? l->max : l->min, off = probes[i].off;
        if (l->kind == CC_LIMIT_LEN && base + off < 0)
            continue;   /* no length below 0 */
        if (l->kind == CC_LIMIT_REAL)
            snprintf(v, sizeof v, "%.17g", (double) base + 1e-6 * (double) off);
        else
            snprintf(v, sizeof v, "%lld", (long long) (base + off));
        if (s_admits(l, dom, v) != probes[i].want) {
            snprintf(why, n, "%s %s %s (C: %lld..%lld)", dom,
                     probes[i].want ? "refuses" : "admits", v, (long long) l->min,
                     (long long) l->max);
            return -1;
        }
    }
    return 0;
}

/* 0 if schema.table.column has type schema.domain and no one-column CHECK
 * of its own; else -1 with why. */
static int s_column_agrees(const char *schema, const char *table, const char *column,
                           const char *domain, char *why, size_t n)
{
    const char *params[4] = { schema, table, column, domain };
    PGresult *r = PQexecParams(
        s_conn,
        "SELECT coalesce(c.domain_schema || '.' || c.domain_name, c.data_type), "
        "  (SELECT count(*) FROM pg_constraint k JOIN pg_attribute a "
        "     ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "   WHERE k.conrelid = format('%I.%I', $1::text, $2::text)::regclass AND k.contype = 'c' "
        "     AND cardinality(k.conkey) = 1 AND a.attname = $3) "
        "FROM information_schema.columns c "
        "WHERE c.table_schema = $1 AND c.table_name = $2 AND c.column_name = $3",
        3, NULL, params, NULL, NULL, 0);
    int rc = 0;
    char want[160];
    snprintf(want, sizeof want, "%s.%s", schema, domain);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(why, n, "%s.%s.%s: no such column %s", schema, table, column,
                 PQerrorMessage(s_conn));
        rc = -1;
    } else if (strcmp(PQgetvalue(r, 0, 0), want) != 0) {
        snprintf(why, n, "%s.%s.%s is %s, not %s", schema, table, column, PQgetvalue(r, 0, 0),
                 want);
        rc = -1;
    } else if (strcmp(PQgetvalue(r, 0, 1), "0") != 0) {
        snprintf(why, n, "%s.%s.%s has a CHECK of its own besides %s", schema, table, column,
                 want);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static void test_every_domain_in_every_schema_agrees_with_c(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    size_t n;
    const cc_limit_t *l = cc_limits(&n);
    assert_true(n > 0);
    char why[256];
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < sizeof s_schemas / sizeof s_schemas[0]; s++)
            if (s_domain_agrees(s_schemas[s], &l[i], why, sizeof why) != 0)
                fail_msg("%s", why);
}

static void test_every_listed_column_has_its_domain(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    size_t n, ncols = 0;
    const cc_limit_t *l = cc_limits(&n);
    char why[256];
    for (size_t i = 0; i < n; i++) {
        char *cols = strdup(l[i].columns);
        assert_non_null(cols);
        for (char *save = NULL, *t = strtok_r(cols, " ", &save); t;
             t = strtok_r(NULL, " ", &save)) {
            char schema[64], table[64], column[64];
            assert_int_equal(sscanf(t, "%63[^.].%63[^.].%63s", schema, table, column), 3);
            if (s_column_agrees(schema, table, column, l[i].domain, why, sizeof why) != 0)
                fail_msg("%s", why);
            ncols++;
        }
        free(cols);
    }
    /* No column outside the list has quietly taken a limit domain either. */
    PGresult *r = PQexec(s_conn, "SELECT count(*) FROM information_schema.columns "
                                 "WHERE domain_name LIKE 'cc\\_%' AND table_schema IN "
                                 "('orderd', 'dispatchd', 'meald', 'billingd')");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(atoll(PQgetvalue(r, 0, 0)), (long long) ncols);
    PQclear(r);
}

/* Domains that disagree with C by one step, either way, and a column with
 * no domain or a CHECK of its own: each check must catch it. */
static void test_planted_mismatches_are_caught(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    size_t n;
    const cc_limit_t *l = cc_limits(&n);
    char sql[512], why[256];
    s_exec("SET client_min_messages = warning");
    for (int wide = 0; wide <= 1; wide++) {
        s_exec("DROP SCHEMA IF EXISTS lim_planted CASCADE");
        s_exec("CREATE SCHEMA lim_planted");
        for (size_t i = 0; i < n; i++) {
            /* The bound C states, moved one step in (narrow) or out (wide). */
            long long lo = l[i].min, hi = l[i].max + (wide ? 1 : -1);
            const char *base = l[i].kind == CC_LIMIT_LEN    ? "text"
                               : l[i].kind == CC_LIMIT_REAL ? "float8"
                               : l[i].kind == CC_LIMIT_TIME ? "timestamptz"
                                                            : "numeric";
            switch (l[i].kind) {
            case CC_LIMIT_LEN:
                snprintf(sql, sizeof sql, "CREATE DOMAIN lim_planted.%s AS %s CHECK "
                         "(length(VALUE) BETWEEN %lld AND %lld)", l[i].domain, base, lo, hi);
                break;
            case CC_LIMIT_INT:
                snprintf(sql, sizeof sql, "CREATE DOMAIN lim_planted.%s AS %s CHECK "
                         "(VALUE BETWEEN %lld AND %lld)", l[i].domain, base, lo, hi);
                break;
            case CC_LIMIT_REAL:
                snprintf(sql, sizeof sql, "CREATE DOMAIN lim_planted.%s AS %s CHECK "
                         "(VALUE BETWEEN %lld AND %.17g)", l[i].domain, base, lo,
                         (double) l[i].max + (wide ? 1e-3 : -1e-3));
                break;
            case CC_LIMIT_TIME:
                snprintf(sql, sizeof sql, "CREATE DOMAIN lim_planted.%s AS %s CHECK "
                         "(VALUE BETWEEN to_timestamp(%lld) AND to_timestamp(%lld) "
                         "+ interval '%lld us')", l[i].domain, base, lo / 1000000,
                         hi / 1000000, hi % 1000000);
                break;
            }
            s_exec(sql);
            if (s_domain_agrees("lim_planted", &l[i], why, sizeof why) == 0)
                fail_msg("a %s %s was not caught", wide ? "wider" : "narrower", l[i].domain);
        }
    }
    /* The same domain but no use of it, then a CHECK of its own beside it. */
    s_exec("CREATE TABLE lim_planted.t (c text)");
    assert_int_equal(s_column_agrees("lim_planted", "t", "c", "cc_name", why, sizeof why), -1);
    s_exec("ALTER TABLE lim_planted.t ALTER COLUMN c TYPE lim_planted.cc_name");
    assert_int_equal(s_column_agrees("lim_planted", "t", "c", "cc_name", why, sizeof why), 0);
    s_exec("ALTER TABLE lim_planted.t ADD CHECK (length(c) < 64)");
    assert_int_equal(s_column_agrees("lim_planted", "t", "c", "cc_name", why, sizeof why), -1);
    s_exec("DROP SCHEMA lim_planted CASCADE");
}

static void test_overflow_safe_helpers(void **state)
{
    (void) state;
    int64_t v = 7;
    assert_int_equal(cc_sub_i64(INT64_C(5000000000000000000), INT64_C(-5000000000000000000), &v),
                     -1);
    assert_int_equal(v, 7);   /* untouched */
    assert_int_equal(cc_add_i64(INT64_MAX, 1, &v), -1);
    assert_int_equal(cc_sub_i64(INT64_MIN, 1, &v), -1);
    assert_int_equal(cc_add_i64(INT64_MAX - 1, 1, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(cc_sub_i64(CC_TIME_MAX_US, CC_TIME_MIN_US, &v), 0);
    assert_true(cc_time_in_range(CC_TIME_MIN_US) && cc_time_in_range(CC_TIME_MAX_US));
    assert_false(cc_time_in_range(CC_TIME_MIN_US - 1) || cc_time_in_range(CC_TIME_MAX_US + 1));
    assert_false(cc_time_in_range(INT64_MIN) || cc_time_in_range(INT64_MAX) ||
                 cc_time_in_range(0));
}

int main(void)
{
    const char *db = getenv("CC_TEST_DB");
    if (db && *db) {
        s_conn = PQconnectdb(db);
        if (PQstatus(s_conn) != CONNECTION_OK) {
            fprintf(stderr, "connect: %s", PQerrorMessage(s_conn));
            PQfinish(s_conn);
            s_conn = NULL;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_safe_helpers),
        cmocka_unit_test(test_every_domain_in_every_schema_agrees_with_c),
        cmocka_unit_test(test_every_listed_column_has_its_domain),
        cmocka_unit_test(test_planted_mismatches_are_caught),
    };
    int rc = cmocka_run_group_tests_name("cc_limits", tests, NULL, NULL);
    if (s_conn)
        PQfinish(s_conn);
    return rc;
}
