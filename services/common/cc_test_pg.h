/* cc_test_pg.h: the scratch-database fixture and the failing allocator that
 * cc_evlog_test.c and cc_consumer_test.c share (static, for those two test
 * binaries only; include after their system headers). CC_TEST_DB holds a
 * superuser conninfo; s_fx_setup migrates a schema evt with every common
 * migration of sql/ORDER. */
#ifndef CC_TEST_PG_H
#define CC_TEST_PG_H

/* ---------------------------------------------- failing allocations
 * STYLE.md: constructors get fail-the-Nth-allocation tests. The allocator
 * is interposed for the whole binary and is a pass-through unless armed;
 * armed, it counts only calls made from this executable (libcc and the
 * test, not libpq or libzmq, whose own failure handling is not ours to
 * test) plus libevent's (event_set_mem_functions), and fails the Nth. */
extern char __executable_start[], etext[];
static long s_alloc_countdown = -1;   /* -1: off */
static int s_alloc_failed;            /* an allocation failed since armed */

#ifdef __SANITIZE_ADDRESS__
#define S_REAL(f) __interceptor_##f
#else
#define S_REAL(f) __libc_##f
#endif
void *S_REAL(malloc)(size_t n);
void *S_REAL(calloc)(size_t n, size_t size);
void *S_REAL(realloc)(void *p, size_t n);

static int s_fail_now(const void *caller, int any)
{
    if (s_alloc_countdown < 0)
        return 0;
    if (!any && !((const char *) caller >= __executable_start && (const char *) caller < etext))
        return 0;
    if (s_alloc_countdown-- == 0) {
        s_alloc_failed = 1;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    return s_fail_now(__builtin_return_address(0), 0) ? NULL : S_REAL(malloc)(n);
}

void *calloc(size_t n, size_t size)
{
    return s_fail_now(__builtin_return_address(0), 0) ? NULL : S_REAL(calloc)(n, size);
}

void *realloc(void *p, size_t n)
{
    return s_fail_now(__builtin_return_address(0), 0) ? NULL : S_REAL(realloc)(p, n);
}

static char *s_dup(const char *s, size_t n, const void *caller)
{
    if (s_fail_now(caller, 0))
        return NULL;
    char *d = S_REAL(malloc)(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

char *strdup(const char *s)
{
    return s_dup(s, strlen(s), __builtin_return_address(0));
}

char *strndup(const char *s, size_t n)
{
    return s_dup(s, strnlen(s, n), __builtin_return_address(0));
}

static void *s_ev_malloc(size_t n)
{
    return s_fail_now(NULL, 1) ? NULL : S_REAL(malloc)(n);
}

static void *s_ev_realloc(void *p, size_t n)
{
    return s_fail_now(NULL, 1) ? NULL : S_REAL(realloc)(p, n);
}

static void s_alloc_arm(long n)
{
    s_alloc_failed = 0;
    s_alloc_countdown = n;
}

static void s_alloc_disarm(void)
{
    s_alloc_countdown = -1;
}

static char s_conninfo[1024];    /* scratch db, search_path = evt */
static int s_have_db;

static PGconn *s_connect(void)
{
    PGconn *c = PQconnectdb(s_conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void s_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "sql failed: %s: %s", sql, PQerrorMessage(c));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
}

static long long s_scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static char *s_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t) n + 1);
    if (fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Fresh schema evt with the event-log SQL and a table for test effects. */
static int s_setup(void **state)
{
    (void) state;
    if (!s_have_db)
        return 0;
    PGconn *c = s_connect();
    assert_non_null(c);
    s_sql(c, "SET client_min_messages = warning");
    s_sql(c, "DROP SCHEMA IF EXISTS evt CASCADE");
    s_sql(c, "CREATE SCHEMA evt");
    /* sql/common/008_runtime_role.sql grants to <schema>_rt, which
     * tools/pg_roles.sql makes for the daemons' schemas only. */
    s_sql(c, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'evt_rt') "
             "THEN CREATE ROLE evt_rt NOLOGIN; END IF; END $$");
    s_sql(c, "SET search_path = evt");
    /* Every common migration in the order of sql/ORDER, as tools/migrate.sh
     * applies them ('#' starts a comment; daemon entries are not ours). */
    char *order = s_read_file("sql/ORDER");
    assert_non_null(order);
    int n_common = 0;
    for (char *save = NULL, *line = strtok_r(order, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char entry[256], path[300];
        line[strcspn(line, "#")] = 0;
        if (sscanf(line, " %255s", entry) != 1 || strncmp(entry, "common/", 7) != 0)
            continue;
        snprintf(path, sizeof path, "sql/%s", entry);
        char *ddl = s_read_file(path);
        assert_non_null(ddl);
        s_sql(c, ddl);
        free(ddl);
        n_common++;
    }
    free(order);
    assert_true(n_common > 0);
    s_sql(c, "CREATE TABLE applied (event_id uuid PRIMARY KEY, seq bigint NOT NULL)");
    s_sql(c, "CREATE TABLE t (v integer NOT NULL CHECK (v >= 0))");
    s_sql(c, "CREATE FUNCTION t_apply(p text, s bigint, id uuid) RETURNS boolean "
             "LANGUAGE plpgsql AS $$ BEGIN IF NOT cc_consume(p, s, id) THEN RETURN false; "
             "END IF; INSERT INTO applied VALUES (id, s); RETURN true; END $$");
    /* Like t_apply, but the effect of any seq listed in poison fails. */
    s_sql(c, "CREATE TABLE poison (seq bigint PRIMARY KEY)");
    s_sql(c, "CREATE FUNCTION t_apply_poison(p text, s bigint, id uuid) RETURNS boolean "
             "LANGUAGE plpgsql AS $$ BEGIN IF NOT cc_consume(p, s, id) THEN RETURN false; "
             "END IF; IF EXISTS (SELECT 1 FROM poison WHERE seq = s) THEN "
             "RAISE EXCEPTION 'poisoned'; END IF; "
             "INSERT INTO applied VALUES (id, s); RETURN true; END $$");
    PQfinish(c);
    return 0;
}

#define SKIP_WITHOUT_DB()                                                           \
    do {                                                                            \
        if (!s_have_db) {                                                           \
            printf("skipped: CC_TEST_DB is not set (no PostgreSQL to test against)\n"); \
            skip();                                                                 \
        }                                                                           \
    } while (0)

#endif
