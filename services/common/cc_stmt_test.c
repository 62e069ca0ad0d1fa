/* Tests for cc_stmt: generated statement texts, the catalogue comparison on
 * hand-made rows, named arguments, and (with CC_TEST_DB) the whole prepare
 * and check against a real PostgreSQL, matching and mismatching. Without
 * CC_TEST_DB the database tests are skipped, saying why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <event2/event.h>

#include "cc_db.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_stmt.h"

/* ---- texts ---------------------------------------------------------- */

static cc_stmt_t s_fn_stmt = {
    "st_f", CC_STMT_WRITER, "f", "x, y", NULL,
    { { "a", CC_T_UUID }, { "b", CC_T_INT8 }, { "when", CC_T_TSTZ }, { "d", CC_T_FLOAT8 },
      { NULL, CC_T_NONE } },
    NULL,
};

static void
test_text(void **state)
{
    (void) state;
    const char *t = cc_stmt_text(&s_fn_stmt);
    assert_non_null(t);
    assert_string_equal(t, "SELECT x, y FROM f($1::uuid, $2::bigint, "
                           "$3::timestamp with time zone, $4::double precision)");
    /* Cached: the same text, generated once. */
    assert_ptr_equal(cc_stmt_text(&s_fn_stmt), t);
    assert_ptr_equal(s_fn_stmt.text, t);
    assert_int_equal(cc_stmt_nparams(&s_fn_stmt), 4);

    /* No columns: "*"; no parameters: "()". */
    cc_stmt_t table[] = {
        { "st_g", CC_STMT_READER, "g", NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
        { "st_s", CC_STMT_WRITER, NULL, NULL, "SELECT $1::int", { { "n", CC_T_INT4 } },
          NULL },
        { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
    };
    assert_string_equal(cc_stmt_text(&table[0]), "SELECT * FROM g()");
    assert_int_equal(cc_stmt_nparams(&table[0]), 0);
    /* A plain statement is its own text, never copied. */
    assert_ptr_equal(cc_stmt_text(&table[1]), table[1].sql);
    assert_null(table[1].text);
    cc_stmt_free(table);
    assert_null(table[0].text);
    cc_stmt_free(table);        /* twice is fine */
    cc_stmt_free(NULL);

    cc_stmt_t one[] = { s_fn_stmt, { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } },
                                     NULL } };
    s_fn_stmt.text = NULL;      /* now owned by one[0] */
    cc_stmt_free(one);
    assert_null(one[0].text);
}

/* Every parameter, the longest type name: the text is complete. */
static void
test_text_max_params(void **state)
{
    (void) state;
    static const char *names[CC_STMT_MAX_PARAMS] = {
        "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11",
        "p12", "p13", "p14", "p15", "p16", "p17", "p18", "p19", "p20", "p21", "p22", "p23",
        "p24", "p25", "p26", "p27", "p28", "p29", "p30", "p31",
    };
    cc_stmt_t st = { "st_max", CC_STMT_WRITER, "some_rather_long_function_name",
                     "a_column, another_column", NULL, { { NULL, CC_T_NONE } }, NULL };
    for (int i = 0; i < CC_STMT_MAX_PARAMS; i++)
        st.params[i] = (cc_sparam_t) { names[i], CC_T_TSTZ };
    assert_int_equal(cc_stmt_nparams(&st), CC_STMT_MAX_PARAMS);
    const char *t = cc_stmt_text(&st);
    assert_non_null(t);
    char want[2048];
    int off = snprintf(want, sizeof want,
                       "SELECT a_column, another_column FROM some_rather_long_function_name(");
    for (int i = 0; i < CC_STMT_MAX_PARAMS; i++)
        off += snprintf(want + off, sizeof want - (size_t) off, "%s$%d::timestamp with time zone",
                        i ? ", " : "", i + 1);
    snprintf(want + off, sizeof want - (size_t) off, ")");
    assert_string_equal(t, want);
    free(st.text);
}

static void
test_type_sql(void **state)
{
    (void) state;
    assert_string_equal(cc_type_sql(CC_T_TEXT), "text");
    assert_string_equal(cc_type_sql(CC_T_UUID), "uuid");
    assert_string_equal(cc_type_sql(CC_T_INT2), "smallint");
    assert_string_equal(cc_type_sql(CC_T_INT4), "integer");
    assert_string_equal(cc_type_sql(CC_T_INT8), "bigint");
    assert_string_equal(cc_type_sql(CC_T_FLOAT8), "double precision");
    assert_string_equal(cc_type_sql(CC_T_BOOL), "boolean");
    assert_string_equal(cc_type_sql(CC_T_BYTEA), "bytea");
    assert_string_equal(cc_type_sql(CC_T_DATE), "date");
    assert_string_equal(cc_type_sql(CC_T_TSTZ), "timestamp with time zone");
    assert_string_equal(cc_type_sql(CC_T_JSONB), "jsonb");
    assert_string_equal(cc_type_sql(CC_T_TEXT_ARRAY), "text[]");   /* format_type's spelling */
    assert_string_equal(cc_type_sql(CC_T_INT8_ARRAY), "bigint[]");
    assert_string_equal(cc_type_sql(CC_T_UUID_ARRAY), "uuid[]");
    assert_string_equal(cc_type_sql(CC_T_BYTEA_ARRAY), "bytea[]");
    assert_string_equal(cc_type_sql(CC_T_NONE), "?");
}

/* ---- the comparison ------------------------------------------------- */

static const cc_stmt_t s_cmp_fn = {
    "order_accept_st", CC_STMT_WRITER, "order_accept", NULL, NULL,
    { { "order", CC_T_UUID }, { "seq", CC_T_INT8 }, { "key", CC_T_TEXT },
      { NULL, CC_T_NONE } },
    NULL,
};

static const cc_stmt_t s_cmp_sql = {
    "slot_get", CC_STMT_READER, NULL, NULL, "SELECT * FROM slot WHERE id = $1 AND n = $2",
    { { "id", CC_T_UUID }, { "n", CC_T_INT4 }, { NULL, CC_T_NONE } },
    NULL,
};

/* cc_stmt_compare on one catalogue row; why must contain every needle. */
static void
s_cmp(const cc_stmt_t *st, const char *name, const char *argnames, const char *argtypes,
      int want, const char *needle1, const char *needle2, const char *needle3)
{
    cc_catalog_row_t rows[] = {
        { "unrelated", "p_z", "date", 0 },
        { name, argnames, argtypes, !st->fn },
    };
    char why[400] = "untouched";
    int rc = cc_stmt_compare(st, rows, 2, why, sizeof why);
    if (rc != want)
        fail_msg("%s(%s / %s): got %d, want %d (%s)", name, argnames, argtypes, rc, want, why);
    const char *needles[] = { needle1, needle2, needle3 };
    for (size_t i = 0; i < 3; i++)
        if (needles[i] && !strstr(why, needles[i]))
            fail_msg("\"%s\" does not name \"%s\"", why, needles[i]);
}

static void
test_compare_fn(void **state)
{
    (void) state;
    const cc_stmt_t *st = &s_cmp_fn;
    s_cmp(st, "order_accept", "p_order,p_seq,p_key", "uuid,bigint,text", 0, NULL, NULL, NULL);
    /* A name without the p_ prefix is the same name. */
    s_cmp(st, "order_accept", "order,p_seq,key", "uuid,bigint,text", 0, NULL, NULL, NULL);

    s_cmp(st, "order_acceptx", "p_order,p_seq,p_key", "uuid,bigint,text", -1,
          "order_accept_st", "order_accept not found", NULL);
    /* Wrong name at each position k names the statement, $k and both names. */
    s_cmp(st, "order_accept", "p_ord,p_seq,p_key", "uuid,bigint,text", -1,
          "order_accept_st", "$1 is order here", "p_ord");
    s_cmp(st, "order_accept", "p_order,p_seqno,p_key", "uuid,bigint,text", -1,
          "order_accept_st", "$2 is seq here", "p_seqno");
    s_cmp(st, "order_accept", "p_order,p_seq,p_keys", "uuid,bigint,text", -1,
          "order_accept_st", "$3 is key here", "p_keys");
    /* Same names, one position swapped. */
    s_cmp(st, "order_accept", "p_seq,p_order,p_key", "bigint,uuid,text", -1,
          "order_accept_st", "$1 is order here", "p_seq");
    /* Unnamed parameters. */
    s_cmp(st, "order_accept", "", "uuid,bigint,text", -1, "order_accept_st", "(unnamed)",
          "$1");
    /* Wrong type. */
    s_cmp(st, "order_accept", "p_order,p_seq,p_key", "uuid,integer,text", -1,
          "order_accept_st", "parameter seq ($2) is bigint here but integer", NULL);
    s_cmp(st, "order_accept", "p_order,p_seq,p_key", "text,bigint,text", -1,
          "order_accept_st", "parameter order ($1) is uuid here but text", NULL);
    /* Too few in the database. */
    s_cmp(st, "order_accept", "p_order,p_seq", "uuid,bigint", -1, "order_accept_st",
          "parameter key ($3)", "only 2");
    s_cmp(st, "order_accept", "", "", -1, "order_accept_st", "parameter order ($1)", "only 0");
    /* Too many in the database. */
    s_cmp(st, "order_accept", "p_order,p_seq,p_key,p_at", "uuid,bigint,text,date", -1,
          "order_accept_st", "more than 3", "date");
}

static void
test_compare_overload(void **state)
{
    (void) state;
    cc_catalog_row_t rows[] = {
        { "order_accept", "p_order,p_seq,p_key", "uuid,bigint,text", 0 },
        { "other", "", "", 0 },
        { "order_accept", "p_order", "uuid", 0 },
    };
    char why[400];
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, rows, 3, why, sizeof why), -1);
    assert_non_null(strstr(why, "order_accept_st"));
    assert_non_null(strstr(why, "2 overloads"));
    /* Without the second one it matches. */
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, rows, 2, why, sizeof why), 0);
    /* An empty catalogue. */
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, NULL, 0, why, sizeof why), -1);
    assert_non_null(strstr(why, "not found"));
    /* A short buffer is truncated, not overrun. */
    char tiny[8];
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, NULL, 0, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void
test_compare_sql(void **state)
{
    (void) state;
    const cc_stmt_t *st = &s_cmp_sql;
    /* Prepared statements are found by the statement's own name. */
    s_cmp(st, "slot_get", "", "uuid,integer", 0, NULL, NULL, NULL);
    s_cmp(st, "slot_get", NULL, "uuid,integer", 0, NULL, NULL, NULL);
    s_cmp(st, "slot_gets", "", "uuid,integer", -1, "slot_get",
          "prepared statement slot_get not found", NULL);
    s_cmp(st, "slot_get", "", "uuid,bigint", -1, "slot_get",
          "parameter n ($2) is integer here but bigint", NULL);
    s_cmp(st, "slot_get", "", "uuid", -1, "slot_get", "parameter n ($2)", "only 1");
    s_cmp(st, "slot_get", "", "uuid,integer,text", -1, "slot_get", "more than 2", "text");
}

/* Functions and prepared statements are two namespaces. */
static void
test_compare_kinds(void **state)
{
    (void) state;
    cc_catalog_row_t rows[] = {
        { "order_accept", "", "text", 1 },      /* a statement named as the function */
        { "order_accept", "p_order,p_seq,p_key", "uuid,bigint,text", 0 },
        { "slot_get", "p_x", "date", 0 },        /* a function named as the statement */
        { "slot_get", "", "uuid,integer", 1 },
    };
    char why[400] = "";
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, rows, 4, why, sizeof why), 0);
    assert_int_equal(cc_stmt_compare(&s_cmp_sql, rows, 4, why, sizeof why), 0);
    /* Only the other kind: not found. */
    assert_int_equal(cc_stmt_compare(&s_cmp_fn, rows, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "function order_accept not found"));
    assert_int_equal(cc_stmt_compare(&s_cmp_sql, rows + 2, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "prepared statement slot_get not found"));
}

/* ---- named arguments ------------------------------------------------ */

static const cc_stmt_t s_args_stmt = {
    "st_args", CC_STMT_WRITER, "h", NULL, NULL,
    { { "t", CC_T_TEXT }, { "u", CC_T_UUID }, { "i2", CC_T_INT2 }, { "i8", CC_T_INT8 },
      { "f", CC_T_FLOAT8 }, { "yes", CC_T_BOOL }, { "no", CC_T_BOOL }, { "raw", CC_T_BYTEA },
      { "nul", CC_T_JSONB }, { NULL, CC_T_NONE } },
    NULL,
};

static void
test_args_fill(void **state)
{
    (void) state;
    cc_args_t a;
    memset(&a, 0x5a, sizeof a);     /* nothing may depend on a zeroed struct */
    cc_args_init(&a, &s_args_stmt);
    assert_ptr_equal(a.st, &s_args_stmt);
    assert_int_equal(a.n, 9);
    assert_int_equal(a.set, 0);

    static const unsigned char bytes[] = { 0x00, 0xff, 0x10 };
    /* Out of declaration order on purpose. */
    cc_args_bytes(&a, "raw", bytes, sizeof bytes);
    cc_args_int(&a, "i8", INT64_MIN);
    cc_args_text(&a, "t", "hello");
    cc_args_text(&a, "u", "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    cc_args_int(&a, "i2", -7);
    cc_args_float(&a, "f", 0.1);
    cc_args_bool(&a, "yes", 1);
    cc_args_bool(&a, "no", 0);
    cc_args_null(&a, "nul");
    assert_int_equal(a.set, (1u << 9) - 1);

    assert_string_equal(a.values[0], "hello");
    assert_string_equal(a.values[1], "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    assert_string_equal(a.values[2], "-7");
    assert_string_equal(a.values[3], "-9223372036854775808");
    assert_true(strtod(a.values[4], NULL) == 0.1);      /* round-trips exactly */
    assert_string_equal(a.values[5], "true");
    assert_string_equal(a.values[6], "false");
    assert_ptr_equal(a.values[7], bytes);
    assert_null(a.values[8]);
    for (int i = 0; i < a.n; i++) {
        assert_int_equal(a.formats[i], i == 7 ? 1 : 0);
        assert_int_equal(a.lengths[i], i == 7 ? 3 : 0);
    }
    /* Numbers live in the args, not in a shared buffer. */
    assert_ptr_not_equal(a.values[2], a.values[3]);

    /* Re-setting a parameter replaces it, format and length included. */
    cc_args_null(&a, "raw");
    assert_null(a.values[7]);
    assert_int_equal(a.formats[7], 0);
    assert_int_equal(a.lengths[7], 0);
    cc_args_int(&a, "i8", INT64_MAX);
    assert_string_equal(a.values[3], "9223372036854775807");
    assert_int_equal(a.set, (1u << 9) - 1);

    /* init starts over. */
    cc_args_init(&a, &s_args_stmt);
    assert_int_equal(a.set, 0);
}

/* A name the statement does not declare is our bug: the process aborts. */
static void
test_args_unknown_name_aborts(void **state)
{
    (void) state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *devnull = freopen("/dev/null", "w", stderr);
        (void) devnull;
        cc_args_t a;
        cc_args_init(&a, &s_args_stmt);
        cc_args_text(&a, "no_such_param", "x");
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* ---- against PostgreSQL --------------------------------------------- */

static char s_conninfo[1024];    /* scratch db, search_path = stt */
static int s_have_db;
static FILE *s_log;

#define SKIP_WITHOUT_DB()                                                               \
    do {                                                                                \
        if (!s_have_db) {                                                               \
            printf("skipped: CC_TEST_DB is not set (no PostgreSQL to test against)\n"); \
            skip();                                                                     \
        }                                                                               \
    } while (0)

static void
s_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "sql failed: %s: %s", sql, PQerrorMessage(c));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
}

/* Fresh schema stt: f(uuid, bigint, text) returning a table, g() with a
 * domain-typed parameter. Log lines go to a temp file to be searched. */
static int
s_setup(void **state)
{
    (void) state;
    s_log = tmpfile();
    assert_non_null(s_log);
    cc_log_set_stream(s_log);
    if (!s_have_db)
        return 0;
    PGconn *c = PQconnectdb(s_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    s_sql(c, "SET client_min_messages = warning");
    s_sql(c, "DROP SCHEMA IF EXISTS stt CASCADE");
    s_sql(c, "CREATE SCHEMA stt");
    s_sql(c, "SET search_path = stt");
    s_sql(c, "CREATE DOMAIN idem_key AS text CHECK (length(VALUE) BETWEEN 1 AND 128)");
    s_sql(c, "CREATE FUNCTION f(p_a uuid, p_b bigint, p_c text) "
             "RETURNS TABLE (o_a uuid, o_b bigint, o_c text) LANGUAGE sql "
             "AS $$ SELECT p_a, p_b * 2, upper(p_c) $$");
    s_sql(c, "CREATE FUNCTION g(p_key idem_key, p_n integer, OUT r_n integer) "
             "LANGUAGE sql AS $$ SELECT p_n + length(p_key) $$");
    PQfinish(c);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_log_set_stream(NULL);
    fclose(s_log);
    cc_metrics_reset();
    return 0;
}

/* The log written since setup. */
static char *
s_log_text(void)
{
    fflush(s_log);
    long n = ftell(s_log);
    char *text = calloc(1, (size_t) n + 1);
    assert_non_null(text);
    rewind(s_log);
    assert_int_equal(fread(text, 1, (size_t) n, s_log), (size_t) n);
    return text;
}

typedef struct {
    struct event_base *base;
    cc_db_t *db;
    cc_stmt_t *table;
    int checked;            /* done called */
    int ok;
    int connects;
    char row[3][64];        /* the call's result */
    int called;
} s_ctx_t;

static void
s_on_checked(int ok, void *arg)
{
    s_ctx_t *c = arg;
    c->checked++;
    c->ok = ok;
    event_base_loopbreak(c->base);
}

/* As cc_rt does: check on every connect. */
static void
s_on_connect(void *arg)
{
    s_ctx_t *c = arg;
    c->connects++;
    assert_int_equal(cc_stmt_check(c->db, c->table, CC_STMT_WRITER, s_on_checked, c), 0);
}

static void
s_run_for(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Prepare table's writer statements on a new connection, check them, and
 * return ok (the context stays usable while keep is set). */
static int
s_prepare_and_check(s_ctx_t *c, cc_stmt_t *table)
{
    c->base = event_base_new();
    assert_non_null(c->base);
    c->db = cc_db_new(c->base, s_conninfo, "stmt-test");
    assert_non_null(c->db);
    c->table = table;
    assert_int_equal(cc_stmt_prepare(c->db, table, CC_STMT_WRITER), 0);
    cc_db_on_connect(c->db, s_on_connect, c);
    for (int i = 0; i < 100 && !c->checked; i++)
        s_run_for(c->base, 100);
    assert_int_equal(c->checked, 1);
    assert_int_equal(c->connects, 1);
    return c->ok;
}

static void
s_ctx_free(s_ctx_t *c)
{
    cc_db_destroy(&c->db);
    event_base_free(c->base);
}

static void
s_on_row(PGresult *res, void *arg)
{
    s_ctx_t *c = arg;
    c->called++;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(res);
        snprintf(c->row[0], sizeof c->row[0], "error: %.50s", msg ? msg : "");
    } else if (PQntuples(res) == 1) {
        for (int i = 0; i < 3 && i < PQnfields(res); i++)
            snprintf(c->row[i], sizeof c->row[i], "%s", PQgetvalue(res, 0, i));
    }
    event_base_loopbreak(c->base);
}

static void
test_db_matching_statements(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    cc_stmt_t table[] = {
        { "st_f", CC_STMT_WRITER, "f", "o_a, o_b, o_c", NULL,
          { { "a", CC_T_UUID }, { "b", CC_T_INT8 }, { "c", CC_T_TEXT } }, NULL },
        /* The domain counts as its base type: the C side sends text. */
        { "st_g", CC_STMT_WRITER | CC_STMT_READER, "g", NULL, NULL,
          { { "key", CC_T_TEXT }, { "n", CC_T_INT4 } }, NULL },
        { "st_sql", CC_STMT_WRITER, NULL, NULL, "SELECT $1::uuid, $2::int + 1, $3::text",
          { { "id", CC_T_UUID }, { "n", CC_T_INT4 }, { "s", CC_T_TEXT } }, NULL },
        /* Reader only: neither prepared nor checked on the writer. */
        { "st_reader", CC_STMT_READER, "no_such_function", NULL, NULL,
          { { "x", CC_T_INT8 } }, NULL },
        { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
    };
    s_ctx_t c = { 0 };
    int ok = s_prepare_and_check(&c, table);
    char *log = s_log_text();
    if (!ok)
        fail_msg("matching statements reported a mismatch: %s", log);
    free(log);
    assert_null(table[3].text);     /* never generated: not this connection's */

    /* And the statements work, filled by name. */
    cc_args_t a;
    cc_args_init(&a, &table[0]);
    cc_args_text(&a, "c", "abc");
    cc_args_int(&a, "b", 21);
    cc_args_text(&a, "a", "3F2504E0-4F89-11D3-9A0C-0305E82C3301");
    assert_int_equal(cc_db_call(c.db, &a, s_on_row, &c), 0);
    for (int i = 0; i < 50 && !c.called; i++)
        s_run_for(c.base, 100);
    assert_int_equal(c.called, 1);
    assert_string_equal(c.row[0], "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    assert_string_equal(c.row[1], "42");
    assert_string_equal(c.row[2], "ABC");

    cc_args_init(&a, &table[1]);
    cc_args_int(&a, "n", 5);
    cc_args_text(&a, "key", "k-12");
    assert_int_equal(cc_db_call(c.db, &a, s_on_row, &c), 0);
    for (int i = 0; i < 50 && c.called < 2; i++)
        s_run_for(c.base, 100);
    assert_int_equal(c.called, 2);
    assert_string_equal(c.row[0], "9");

    s_ctx_free(&c);
    cc_stmt_free(table);
}

/* One mismatching statement beside a matching one: ok = 0 and the log
 * names the statement and the parameter. */
static void
s_expect_mismatch(cc_stmt_t *bad, const char *needle1, const char *needle2)
{
    cc_stmt_t table[] = {
        { "st_good", CC_STMT_WRITER, "f", NULL, NULL,
          { { "a", CC_T_UUID }, { "b", CC_T_INT8 }, { "c", CC_T_TEXT } }, NULL },
        *bad,
        { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
    };
    s_ctx_t c = { 0 };
    int ok = s_prepare_and_check(&c, table);
    char *log = s_log_text();
    if (ok)
        fail_msg("statement %s was accepted: %s", bad->name, log);
    assert_non_null(strstr(log, "\"statement_mismatch\""));
    const char *needles[] = { bad->name, needle1, needle2 };
    for (size_t i = 0; i < 3; i++)
        if (needles[i] && !strstr(log, needles[i]))
            fail_msg("log does not name \"%s\": %s", needles[i], log);
    /* Only the bad statement is reported. */
    assert_null(strstr(log, "st_good"));
    free(log);
    s_ctx_free(&c);
    cc_stmt_free(table);
}

static void
test_db_renamed_param(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    cc_stmt_t bad = { "st_renamed", CC_STMT_WRITER, "f", NULL, NULL,
                      { { "a", CC_T_UUID }, { "bb", CC_T_INT8 }, { "c", CC_T_TEXT } }, NULL };
    s_expect_mismatch(&bad, "$2 is bb here but p_b", NULL);
}

static void
test_db_retyped_param(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    /* integer -> bigint casts implicitly, so it prepares; the check sees it. */
    cc_stmt_t bad = { "st_retyped", CC_STMT_WRITER, "f", NULL, NULL,
                      { { "a", CC_T_UUID }, { "b", CC_T_INT4 }, { "c", CC_T_TEXT } }, NULL };
    s_expect_mismatch(&bad, "parameter b ($2) is integer here but bigint", NULL);
}

static void
test_db_domain_is_base_type(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    /* g's p_key is idem_key over text: declaring it uuid is a mismatch
     * reported against the base type. */
    cc_stmt_t bad = { "st_domain", CC_STMT_WRITER, "g", NULL, NULL,
                      { { "key", CC_T_UUID }, { "n", CC_T_INT4 } }, NULL };
    s_expect_mismatch(&bad, "parameter key ($1) is uuid here but text", NULL);
}

static void
test_db_sql_inferred_types(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    /* PostgreSQL infers integer for $1 + 1; bigint is declared. */
    cc_stmt_t bad = { "st_sql_bad", CC_STMT_WRITER, NULL, NULL, "SELECT $1 + 1, $2::text",
                      { { "n", CC_T_INT8 }, { "s", CC_T_TEXT } }, NULL };
    s_expect_mismatch(&bad, "parameter n ($1) is bigint here but integer", NULL);
}

static void
test_db_missing_function(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    cc_stmt_t bad = { "st_missing", CC_STMT_WRITER, "h", NULL, NULL,
                      { { "a", CC_T_UUID } }, NULL };
    s_expect_mismatch(&bad, "function h not found", NULL);
}

/* A statement may carry its function's name (the natural choice): the
 * function and the prepared statement are different things. */
static void
test_db_statement_named_as_function(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    cc_stmt_t table[] = {
        { "f", CC_STMT_WRITER, "f", NULL, NULL,
          { { "a", CC_T_UUID }, { "b", CC_T_INT8 }, { "c", CC_T_TEXT } }, NULL },
        /* A plain statement named as an unrelated function. */
        { "g", CC_STMT_WRITER, NULL, NULL, "SELECT $1::int",
          { { "n", CC_T_INT4 } }, NULL },
        { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
    };
    s_ctx_t c = { 0 };
    int ok = s_prepare_and_check(&c, table);
    char *log = s_log_text();
    if (!ok)
        fail_msg("statements named as functions were refused: %s", log);
    free(log);
    s_ctx_free(&c);
    cc_stmt_free(table);
}

int
main(void)
{
    cc_log_init("test", "info");
    const char *db = getenv("CC_TEST_DB");
    if (db && *db) {
        snprintf(s_conninfo, sizeof s_conninfo, "%s options=-csearch_path=stt", db);
        s_have_db = 1;
    } else {
        printf("cc_stmt: CC_TEST_DB is not set: the PostgreSQL tests are skipped\n");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_max_params),
        cmocka_unit_test(test_type_sql),
        cmocka_unit_test(test_compare_fn),
        cmocka_unit_test(test_compare_overload),
        cmocka_unit_test(test_compare_sql),
        cmocka_unit_test(test_compare_kinds),
        cmocka_unit_test(test_args_fill),
        cmocka_unit_test(test_args_unknown_name_aborts),
        cmocka_unit_test_setup_teardown(test_db_matching_statements, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_renamed_param, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_retyped_param, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_domain_is_base_type, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_sql_inferred_types, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_missing_function, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_db_statement_named_as_function, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests_name("cc_stmt", tests, NULL, NULL);
}
