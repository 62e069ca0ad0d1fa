/* cc_pgarr_test: array literals as PostgreSQL reads them. The literal text
 * for the simple cases; then, against the database in CC_TEST_DB, every
 * awkward element (quotes, backslashes, braces, commas, blanks, the word
 * NULL, the empty string, Chinese text, bytea hex) read back by the server
 * element by element, and SQL NULL told apart from the text "NULL". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_pgarr.h"

static PGconn *s_conn;

static void
test_literals(void **state)
{
    (void) state;
    cc_pgarr_t a = { 0 };
    char *s = cc_pgarr_take(&a);
    assert_string_equal(s, "{}");
    free(s);
    cc_pgarr_add(&a, "x");
    cc_pgarr_add(&a, NULL);
    cc_pgarr_add(&a, "a\"b\\c");
    s = cc_pgarr_take(&a);
    assert_string_equal(s, "{\"x\",NULL,\"a\\\"b\\\\c\"}");
    free(s);
    assert_int_equal(a.n, 0);       /* empty again, reusable */
    cc_pgarr_add(&a, "");
    s = cc_pgarr_take(&a);
    assert_string_equal(s, "{\"\"}");
    free(s);
    cc_pgarr_add(&a, "left behind");
    cc_pgarr_free(&a);
    assert_null(a.buf);
}

static void
test_server_reads_each_element_back(void **state)
{
    (void) state;
    if (!s_conn) {
        printf("skipped: CC_TEST_DB is not set (no PostgreSQL to test against)\n");
        skip();
    }
    static const char *const v[] = {
        "plain", "", " lead and trail ", "NULL", "null", "a,b", "{braces}", "q\"uote",
        "back\\slash", "\\\\", "\"", "二楼 东门", "tab\there", "new\nline",
    };
    enum { N = sizeof v / sizeof v[0] };
    cc_pgarr_t a = { 0 };
    for (int i = 0; i < N; i++) {
        cc_pgarr_add(&a, v[i]);
        cc_pgarr_add(&a, NULL);
    }
    char *lit = cc_pgarr_take(&a);
    const char *p[1] = { lit };
    PGresult *r = PQexecParams(s_conn, "SELECT x IS NULL, coalesce(x, '') FROM "
                               "unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 2 * N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(PQgetvalue(r, 2 * i, 0), "f");
        assert_string_equal(PQgetvalue(r, 2 * i, 1), v[i]);
        assert_string_equal(PQgetvalue(r, 2 * i + 1, 0), "t");
    }
    PQclear(r);
    free(lit);

    /* Typed elements: uuid, bigint, bytea in hex. */
    cc_pgarr_add(&a, "\\x00ff22");
    cc_pgarr_add(&a, "\\x");
    lit = cc_pgarr_take(&a);
    p[0] = lit;
    r = PQexecParams(s_conn, "SELECT encode(b, 'hex') FROM unnest($1::bytea[]) "
                     "WITH ORDINALITY AS u(b, n) ORDER BY n", 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "00ff22");
    assert_string_equal(PQgetvalue(r, 1, 0), "");
    PQclear(r);
    free(lit);
    cc_pgarr_add(&a, "-9223372036854775808");
    cc_pgarr_add(&a, "42");
    lit = cc_pgarr_take(&a);
    p[0] = lit;
    r = PQexecParams(s_conn, "SELECT sum(x::numeric)::text FROM unnest($1::bigint[]) x",
                     1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "-9223372036854775766");
    PQclear(r);
    free(lit);
}

int
main(void)
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
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_server_reads_each_element_back),
    };
    int rc = cmocka_run_group_tests_name("cc_pgarr", tests, NULL, NULL);
    if (s_conn)
        PQfinish(s_conn);
    return rc;
}
