/* Tests for cc_db, cc_evlog and cc_zsock against a real PostgreSQL (the
 * consumer's own tests are in cc_consumer_test.c).
 * CC_TEST_DB holds a superuser conninfo for a scratch database (tests/run.sh
 * starts a throwaway cluster); without it every test is skipped, saying why. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>
#include <libpq-fe.h>
#include <event2/event.h>

#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zsock.h"

#include "cc_test_pg.h"

/* ------------------------------------------------------------ cc_db */

typedef struct {
    int ok, failed, calls;
    struct event_base *base;
    int stop_at;
} s_counts_t;

static void s_count_cb(PGresult *res, void *arg)
{
    s_counts_t *c = arg;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        c->ok++;
    else
        c->failed++;
    if (++c->calls == c->stop_at)
        event_base_loopbreak(c->base);
}

static int s_waiting_ready;   /* break the loop on connect only while waiting for it */

static void s_on_ready(void *arg)
{
    if (s_waiting_ready)
        event_base_loopbreak((struct event_base *) arg);
}

static void s_run_for(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static cc_db_t *s_db_ready(struct event_base *base)
{
    cc_db_t *db = cc_db_new(base, s_conninfo, "test");
    assert_non_null(db);
    cc_db_prepare(db, "ins", "INSERT INTO t (v) VALUES ($1::int)");
    cc_db_prepare(db, "pid", "SELECT pg_backend_pid()");
    cc_db_on_connect(db, s_on_ready, base);
    s_waiting_ready = 1;
    s_run_for(base, 5000);
    s_waiting_ready = 0;
    assert_true(cc_db_connected(db));
    return db;
}

/* A bad statement in a batch fails alone; the rest commit. */
static void test_db_batch_isolates_failure(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    s_counts_t c = { .base = base, .stop_at = 50 };
    for (int i = 0; i < 50; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i == 17 ? -1 : i);   /* -1 violates the CHECK */
        const char *vals[1] = { v };
        assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c), 0);
    }
    s_run_for(base, 10000);
    assert_int_equal(c.calls, 50);
    assert_int_equal(c.ok, 49);
    assert_int_equal(c.failed, 1);
    assert_int_equal(cc_db_pending(db), 0);
    PGconn *pc = s_connect();
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t"), 49);
    s_sql(pc, "TRUNCATE evt.t");
    PQfinish(pc);
    cc_db_destroy(&db);
    assert_null(db);
    event_base_free(base);
}

/* cc_db_exec_fill: values made at send time, once, for a statement that
 * keeps the place it was queued in. */
typedef struct {
    char list[64];          /* the int[] literal's elements, e.g. "1,2" */
    int fills;
} s_fill_t;

static void s_fill(void *arg, char **values)
{
    s_fill_t *f = arg;
    f->fills++;
    size_t n = strlen(f->list) + 3;
    values[0] = malloc(n);
    assert_non_null(values[0]);
    snprintf(values[0], n, "{%s}", f->list);
}

static void s_count_rows_cb(PGresult *res, void *arg)
{
    int *n = arg;
    *n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
}

/* Values added after queueing are sent; a statement queued after it sees
 * its rows (its place is kept); a batch re-run after a failure re-sends
 * the same values without calling fill again. */
static void test_db_exec_fill(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    cc_db_prepare(db, "insarr", "INSERT INTO t (v) SELECT unnest($1::integer[])");
    cc_db_prepare(db, "cnt", "SELECT count(*) FROM t");
    s_fill_t f = { "1", 0 };
    s_counts_t c = { .base = base, .stop_at = 2 };
    int seen = 0;
    assert_int_equal(cc_db_exec_fill(db, "insarr", 1, s_fill, &f, s_count_cb, &c), 0);
    assert_int_equal(cc_db_exec(db, "cnt", 0, NULL, NULL, NULL, s_count_rows_cb, &seen), 0);
    snprintf(f.list, sizeof f.list, "1,2,3");   /* still unsent: these go */
    const char *ok[1] = { "4" };
    assert_int_equal(cc_db_exec(db, "ins", 1, ok, NULL, NULL, s_count_cb, &c), 0);
    s_run_for(base, 10000);
    assert_int_equal(f.fills, 1);
    assert_int_equal(c.ok, 2);
    assert_int_equal(seen, 3);      /* after the fill statement, before "ins" */

    /* A bad statement after it: the batch fails and is re-run alone. */
    s_fill_t g = { "10,11", 0 };
    s_counts_t d = { .base = base, .stop_at = 2 };
    const char *bad[1] = { "-1" };
    assert_int_equal(cc_db_exec_fill(db, "insarr", 1, s_fill, &g, s_count_cb, &d), 0);
    assert_int_equal(cc_db_exec(db, "ins", 1, bad, NULL, NULL, s_count_cb, &d), 0);
    s_run_for(base, 10000);
    assert_int_equal(g.fills, 1);
    assert_int_equal(d.ok, 1);
    assert_int_equal(d.failed, 1);
    assert_int_equal(cc_db_exec_fill(db, "insarr", 0, s_fill, &g, NULL, NULL), -1);
    PGconn *pc = s_connect();
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t"), 6);
    assert_int_equal(s_scalar(pc, "SELECT sum(v) FROM evt.t"), 1 + 2 + 3 + 4 + 10 + 11);
    s_sql(pc, "TRUNCATE evt.t");
    PQfinish(pc);
    cc_db_destroy(&db);
    event_base_free(base);
}

static void s_pid_cb(PGresult *res, void *arg)
{
    int *pid = arg;
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        *pid = atoi(PQgetvalue(res, 0, 0));
}

/* The server drops the connection with work queued: it is re-sent after
 * reconnecting, and every statement is answered exactly once. */
static void test_db_reconnect_keeps_work(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    int pid = 0;
    cc_db_exec(db, "pid", 0, NULL, NULL, NULL, s_pid_cb, &pid);
    s_run_for(base, 300);
    assert_true(pid > 0);
    PGconn *pc = s_connect();
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    s_sql(pc, sql);
    s_counts_t c = { .base = base, .stop_at = 20 };
    for (int i = 0; i < 20; i++) {
        const char *vals[1] = { "7" };
        cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c);
    }
    s_run_for(base, 15000);
    assert_int_equal(c.calls, 20);
    assert_int_equal(c.ok, 20);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t"), 20);
    s_sql(pc, "TRUNCATE evt.t");
    PQfinish(pc);
    cc_db_destroy(&db);
    event_base_free(base);
}

/* One rule for SQL errors: which SQLSTATEs are retried, which stop the
 * process, which fail only their statement. */
static void test_db_err_class(void **state)
{
    (void) state;
    static const char *const transient[] = { "40001", "40P01", "55P03", "57014", "57P01",
                                             "57P02", "57P03", "25006", "08006", "08001",
                                             "53100", "53200", "53300", NULL };
    for (int i = 0; transient[i]; i++)
        assert_int_equal(cc_db_err_class(transient[i]), CC_DB_ERR_TRANSIENT);
    assert_int_equal(cc_db_err_class("XX001"), CC_DB_ERR_CORRUPT);
    assert_int_equal(cc_db_err_class("XX002"), CC_DB_ERR_CORRUPT);
    static const char *const other[] = { "23505", "23514", "22003", "P0001", "42883", "XX000",
                                         "26000", "40002", "", "4000", NULL };
    for (int i = 0; other[i]; i++)
        assert_int_equal(cc_db_err_class(other[i]), CC_DB_ERR_OTHER);
    assert_int_equal(cc_db_err_class(NULL), CC_DB_ERR_OTHER);
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    assert_int_equal(cc_db_res_class(r), CC_DB_ERR_TRANSIENT);   /* no SQLSTATE: synthetic */
    PQclear(r);
    r = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
    assert_int_equal(cc_db_res_class(r), CC_DB_OK);
    PQclear(r);
}

/* Two inserts of a batch fail with serialization_failure (a trigger, its
 * count in a sequence, which a rollback does not undo): they are run again
 * after a backoff and every statement is answered once, successfully, with
 * one row each. Before the rule the two callers got the error. */
static void test_db_transient_retried(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    PGconn *pc = s_connect();
    s_sql(pc, "CREATE SEQUENCE evt.flaky");
    s_sql(pc, "CREATE FUNCTION evt.flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
              "IF nextval('evt.flaky') <= 2 THEN RAISE EXCEPTION 'injected' "
              "USING ERRCODE = '40001'; END IF; RETURN NEW; END $$");
    s_sql(pc, "CREATE TRIGGER flaky BEFORE INSERT ON evt.t FOR EACH ROW "
              "EXECUTE FUNCTION evt.flaky()");
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    s_counts_t c = { .base = base, .stop_at = 30 };
    for (int i = 0; i < 30; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *vals[1] = { v };
        assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c), 0);
    }
    s_run_for(base, 10000);
    assert_int_equal(c.calls, 30);
    assert_int_equal(c.ok, 30);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t"), 30);
    assert_int_equal(s_scalar(pc, "SELECT count(DISTINCT v) FROM evt.t"), 30);
    assert_true(s_scalar(pc, "SELECT last_value FROM evt.flaky") > 30);   /* it did fail */
    PQfinish(pc);
    cc_db_destroy(&db);
    event_base_free(base);
}

/* A lock held elsewhere: the statement_timeout cancels the writer's
 * statements (57014), which wait and try again, as long as it takes, and
 * commit once each when the lock goes. A reader's statements, with a
 * deadline, are answered with an error at it instead (queued or not). */
static void test_db_statement_timeout_retried(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    cc_db_t *rd = s_db_ready(base);    /* before the lock, which PREPARE waits for */
    PGconn *pc = s_connect();
    s_sql(pc, "BEGIN");
    s_sql(pc, "LOCK TABLE evt.t IN ACCESS EXCLUSIVE MODE");
    cc_db_set_statement_timeout(db, 100);
    s_counts_t c = { .base = base, .stop_at = 3 };
    for (int i = 0; i < 3; i++) {
        const char *vals[1] = { "5" };
        assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c), 0);
    }
    s_run_for(base, 1500);
    assert_int_equal(c.calls, 0);               /* still trying */
    assert_int_equal(cc_db_pending(db), 3);

    cc_db_set_statement_timeout(rd, 100);
    cc_db_set_item_timeout(rd, 400);
    s_counts_t r = { .base = base, .stop_at = 4 };
    for (int i = 0; i < 4; i++) {
        const char *vals[1] = { "6" };
        assert_int_equal(cc_db_exec(rd, "ins", 1, vals, NULL, NULL, s_count_cb, &r), 0);
    }
    s_run_for(base, 3000);
    assert_int_equal(r.calls, 4);
    assert_int_equal(r.failed, 4);
    assert_int_equal(cc_db_pending(rd), 0);

    s_sql(pc, "COMMIT");
    s_run_for(base, 5000);
    assert_int_equal(c.calls, 3);
    assert_int_equal(c.ok, 3);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t WHERE v = 5"), 3);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.t WHERE v = 6"), 0);
    PQfinish(pc);
    cc_db_destroy(&rd);
    cc_db_destroy(&db);
    event_base_free(base);
}

/* The queue is bounded: beyond the bound cc_db_exec refuses. */
static void test_db_queue_bounded(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    cc_db_set_queue_max(db, 4);
    s_counts_t c = { .base = base, .stop_at = 4 };
    const char *vals[1] = { "1" };
    for (int i = 0; i < 4; i++)
        assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c), 0);
    assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c), -1);
    s_run_for(base, 5000);
    assert_int_equal(c.ok, 4);
    assert_int_equal(cc_db_exec(db, "ins", 1, vals, NULL, NULL, NULL, NULL), 0);
    s_run_for(base, 300);
    cc_db_destroy(&db);
    event_base_free(base);
}

typedef struct {
    cc_db_t *db;
    int calls;
    int destroy_at;
} s_killer_t;

static void s_killer_cb(PGresult *res, void *arg)
{
    (void) res;
    s_killer_t *k = arg;
    if (++k->calls == k->destroy_at)
        cc_db_destroy(&k->db);
}

static void s_killer_hook(void *arg)
{
    s_killer_t *k = arg;
    k->calls += 100;
}

/* A result callback destroys the db (a daemon giving up on an error): no
 * other callback of the db runs afterwards and nothing is touched after
 * the free (ASan). */
static void test_db_destroy_from_callback(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    s_killer_t k = { .destroy_at = 3 };
    k.db = s_db_ready(base);
    cc_db_on_commit(k.db, s_killer_hook, &k);
    for (int i = 0; i < 10; i++) {
        const char *vals[1] = { "5" };
        cc_db_exec(k.db, "ins", 1, vals, NULL, NULL, s_killer_cb, &k);
    }
    s_run_for(base, 1000);
    assert_null(k.db);
    assert_int_equal(k.calls, 3);
    event_base_free(base);
}

static void s_notify_cb(const char *channel, const char *payload, void *arg)
{
    (void) channel;
    (void) payload;
    (*(int *) arg)++;
}

/* A statement that cannot be prepared (its function is not in the schema
 * yet) must not take the statements and LISTENs registered after it down
 * with it. */
static void test_db_bad_prepare_alone(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    cc_db_t *db = cc_db_new(base, s_conninfo, "test");
    cc_db_prepare(db, "bad", "SELECT no_such_function($1)");
    cc_db_prepare(db, "ins", "INSERT INTO t (v) VALUES ($1::int)");
    int notified = 0;
    cc_db_listen(db, "bad_prepare_test", s_notify_cb, &notified);
    cc_db_on_connect(db, s_on_ready, base);
    s_waiting_ready = 1;
    s_run_for(base, 5000);
    s_waiting_ready = 0;
    assert_true(cc_db_connected(db));
    s_counts_t c = { .base = base, .stop_at = 2 };
    const char *vals[1] = { "3" };
    cc_db_exec(db, "bad", 1, vals, NULL, NULL, s_count_cb, &c);
    cc_db_exec(db, "ins", 1, vals, NULL, NULL, s_count_cb, &c);
    s_run_for(base, 3000);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.ok, 1);
    PGconn *pc = s_connect();
    s_sql(pc, "NOTIFY bad_prepare_test");
    PQfinish(pc);
    for (int i = 0; i < 100 && !notified; i++)
        s_run_for(base, 20);
    assert_int_equal(notified, 1);
    cc_db_destroy(&db);
    event_base_free(base);
}

/* A statement whose error is only raised at COMMIT (a deferred constraint,
 * as billingd's balanced-transfer trigger): the Sync answers with an
 * error. Only that statement's caller may see it; the rest commit. */
static void test_db_commit_time_error(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    PGconn *pc = s_connect();
    s_sql(pc, "CREATE TABLE evt.d (v integer NOT NULL)");
    s_sql(pc, "CREATE FUNCTION evt.d_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
              "IF NEW.v < 0 THEN RAISE EXCEPTION 'negative at commit'; END IF; "
              "RETURN NULL; END $$");
    s_sql(pc, "CREATE CONSTRAINT TRIGGER d_check AFTER INSERT ON evt.d "
              "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION evt.d_check()");
    struct event_base *base = event_base_new();
    cc_db_t *db = s_db_ready(base);
    cc_db_prepare(db, "dins", "INSERT INTO d (v) VALUES ($1::int)");
    s_run_for(base, 200);
    s_counts_t c = { .base = base, .stop_at = 3 };
    const char *ok[1] = { "1" }, *bad[1] = { "-1" };
    cc_db_exec(db, "dins", 1, ok, NULL, NULL, s_count_cb, &c);
    cc_db_exec(db, "dins", 1, bad, NULL, NULL, s_count_cb, &c);
    cc_db_exec(db, "dins", 1, ok, NULL, NULL, s_count_cb, &c);
    s_run_for(base, 5000);
    assert_int_equal(c.calls, 3);
    assert_int_equal(c.ok, 2);
    assert_int_equal(c.failed, 1);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.d"), 2);
    /* Still usable. */
    s_counts_t c2 = { .base = base, .stop_at = 1 };
    cc_db_exec(db, "dins", 1, ok, NULL, NULL, s_count_cb, &c2);
    s_run_for(base, 2000);
    assert_int_equal(c2.ok, 1);
    PQfinish(pc);
    cc_db_destroy(&db);
    event_base_free(base);
}

/* A server that accepts connections but never answers (hung, or behind a
 * black hole): libpq enforces connect_timeout only in blocking connects, so
 * cc_db must give up on the attempt itself and try again. */
static void test_db_connect_timeout(void **state)
{
    (void) state;
    struct event_base *base = event_base_new();
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(ls, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 16), 0);   /* the kernel accepts; nobody answers */
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *) &sa, &sl);
    char ci[128];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d connect_timeout=2 sslmode=disable",
             ntohs(sa.sin_port));
    cc_db_t *db = cc_db_new(base, ci, "hung");
    s_run_for(base, 3000);
    /* Count the attempts queued on the listener. */
    int attempts = 0;
    fcntl(ls, F_SETFL, O_NONBLOCK);
    for (int fd; (fd = accept(ls, NULL, NULL)) >= 0; attempts++)
        close(fd);
    printf("connection attempts in 3 s: %d\n", attempts);
    assert_true(attempts >= 2);
    assert_false(cc_db_connected(db));
    cc_db_destroy(&db);
    close(ls);
    event_base_free(base);
}

/* --------------------------------------------------------- cc_evlog */

typedef struct {
    uint64_t next;        /* next seq expected */
    int received;
    int bad_order;
    int target;
    struct event_base *base;
    cc_zsock_t *dealer;
    int req;
} s_reader_t;

static void s_send_fetch(s_reader_t *r, uint64_t after)
{
    Cc__Fetch f = CC__FETCH__INIT;
    f.after_seq = after;
    f.max_events = 300;
    f.wait_ms = 500;
    size_t ilen;
    uint8_t *inner = cc_pb_pack(&f.base, &ilen);
    char id[16];
    snprintf(id, sizeof id, "%d", ++r->req);
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Fetch";
    env.id = id;
    env.payload.data = inner;
    env.payload.len = ilen;
    size_t len;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    const void *fr[1] = { out };
    size_t lens[1] = { len };
    cc_zsock_sendv(r->dealer, fr, lens, 1);
    free(inner);
    free(out);
}

static void s_reader_cb(cc_zsock_t *s, const void *const *frames, const size_t *lens, int n,
                        void *arg)
{
    (void) s;
    s_reader_t *r = arg;
    assert_int_equal(n, 1);
    Cc__Envelope *env = cc__envelope__unpack(NULL, lens[0], frames[0]);
    assert_non_null(env);
    assert_string_equal(env->type, "Events");
    Cc__Events *evs = cc__events__unpack(NULL, env->payload.len, env->payload.data);
    assert_non_null(evs);
    for (size_t i = 0; i < evs->n_events; i++) {
        Cc__Envelope *e = cc__envelope__unpack(NULL, evs->events[i].len, evs->events[i].data);
        assert_non_null(e);
        if (e->seq != r->next)
            r->bad_order++;
        r->next = e->seq + 1;
        r->received++;
        assert_string_equal(e->type, "Tick");
        assert_int_equal(e->payload.len, 3);
        cc__envelope__free_unpacked(e, NULL);
    }
    cc__events__free_unpacked(evs, NULL);
    cc__envelope__free_unpacked(env, NULL);
    if (r->received >= r->target)
        event_base_loopbreak(r->base);
    else
        s_send_fetch(r, r->next - 1);
}

/* Children append events in concurrent transactions that overlap in time
 * (each sleeps a random moment between numbering and commit). */
/* Forked before this process has any thread (ZeroMQ starts its I/O
 * threads with the first socket): a child forked from a threaded process
 * can deadlock on a lock another thread held at fork time (seen with
 * ASan's allocator). They start writing when the returned fd is closed. */
static int s_writers(int nproc, int per)
{
    int go[2];
    assert_int_equal(pipe(go), 0);
    for (int p = 0; p < nproc; p++) {
        if (fork() == 0) {
            close(go[1]);
            char b;
            while (read(go[0], &b, 1) > 0)
                ;
            PGconn *c = PQconnectdb(s_conninfo);
            srand((unsigned) getpid());
            for (int i = 0; i < per; i++) {
                char id[CC_UUID_LEN];
                cc_uuid(id);
                char sql[400];
                snprintf(sql, sizeof sql,
                         "BEGIN; SELECT cc_append('Tick', '%s', 'k', 1, '\\x616263'::bytea); "
                         "SELECT pg_sleep(%f); COMMIT;", id, (rand() % 5) / 1000.0);
                PGresult *r = PQexec(c, sql);
                PQclear(r);
            }
            PQfinish(c);
            _exit(0);
        }
    }
    close(go[0]);
    return go[1];
}

static void test_evlog_concurrent_writers_no_skip(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    const int nproc = 4, per = 150;
    int go = s_writers(nproc, per);
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*", 64);
    assert_non_null(log);
    s_run_for(base, 300);
    assert_true(cc_evlog_ready(log));

    s_reader_t r = { .next = 1, .target = nproc * per, .base = base };
    r.dealer = cc_zsock_new(base, zctx, ZMQ_DEALER, 0, "reader", s_reader_cb, &r);
    cc_zsock_connect(r.dealer, cc_evlog_endpoint(log));
    close(go);   /* writers, go */
    s_send_fetch(&r, 0);
    s_run_for(base, 60000);
    for (int p = 0; p < nproc; p++)
        wait(NULL);
    assert_int_equal(r.received, nproc * per);
    assert_int_equal(r.bad_order, 0);
    assert_int_equal(cc_evlog_head(log), (uint64_t) (nproc * per));

    /* A reader that was away catches up from the table (beyond the ring). */
    s_reader_t late = { .next = 1, .target = nproc * per, .base = base };
    late.dealer = cc_zsock_new(base, zctx, ZMQ_DEALER, 0, "late", s_reader_cb, &late);
    cc_zsock_connect(late.dealer, cc_evlog_endpoint(log));
    s_send_fetch(&late, 0);
    s_run_for(base, 20000);
    assert_int_equal(late.received, nproc * per);
    assert_int_equal(late.bad_order, 0);

    cc_zsock_destroy(&late.dealer);
    cc_zsock_destroy(&r.dealer);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* Garbage on the log socket is counted and dropped; the log keeps serving. */
static void test_evlog_rejects_garbage(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*", 64);
    s_run_for(base, 300);
    void *raw = zmq_socket(zctx, ZMQ_DEALER);
    zmq_connect(raw, cc_evlog_endpoint(log));
    zmq_send(raw, "\xff\xff\xff garbage", 12, 0);
    char big[100 * 1024];
    memset(big, 'x', sizeof big);
    zmq_send(raw, big, sizeof big, 0);    /* over the 64 KiB cap: peer dropped */
    s_run_for(base, 500);
    char *text = cc_metrics_render();
    assert_non_null(strstr(text, "zmq_rejected_total{socket=\"evt-log\",reason=\"malformed\"} 1"));
    free(text);
    /* Still serving. */
    PGconn *pc = s_connect();
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263')");
    PQfinish(pc);
    s_reader_t r = { .next = 1, .target = 1, .base = base };
    r.dealer = cc_zsock_new(base, zctx, ZMQ_DEALER, 0, "after", s_reader_cb, &r);
    cc_zsock_connect(r.dealer, cc_evlog_endpoint(log));
    s_send_fetch(&r, 0);
    s_run_for(base, 5000);
    assert_true(r.received >= 1);
    zmq_close(raw);
    cc_zsock_destroy(&r.dealer);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* A consumer applying every event, for the tests that need one. */
typedef struct {
    int handled;
} s_app_t;

static int s_apply_fn(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    s_app_t *a = arg;
    a->handled++;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    const char *v[3] = { "evt", seq, env->id };
    return cc_consumer_exec(c, "t_apply", 3, v, NULL, NULL, NULL, NULL);
}

static double s_metric(const char *name);

/* A Fetch for events after `after`, parked up to wait_ms, with request id. */
static void s_raw_fetch(void *sock, uint64_t after, uint32_t wait_ms, const char *id)
{
    Cc__Fetch f = CC__FETCH__INIT;
    f.after_seq = after;
    f.max_events = 10;
    f.wait_ms = wait_ms;
    size_t ilen;
    uint8_t *inner = cc_pb_pack(&f.base, &ilen);
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Fetch";
    env.id = (char *) id;
    env.payload.data = inner;
    env.payload.len = ilen;
    size_t len;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    assert_int_equal(zmq_send(sock, out, len, 0), (int) len);
    free(inner);
    free(out);
}

/* Request ids of the replies waiting on sock, comma-separated. */
static void s_raw_replies(void *sock, char *ids, size_t cap)
{
    ids[0] = '\0';
    uint8_t buf[4096];
    int n;
    while ((n = zmq_recv(sock, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
        Cc__Envelope *env = cc__envelope__unpack(NULL, (size_t) n, buf);
        assert_non_null(env);
        size_t l = strlen(ids);
        snprintf(ids + l, cap - l, "%s%s", l ? "," : "", env->id);
        cc__envelope__free_unpacked(env, NULL);
    }
}

/* Parked long polls are bounded: a peer's re-sent Fetch replaces the one it
 * had parked (one reply, to the newest), and beyond 256 parked the oldest
 * is dropped unanswered (its own timeout re-sends) instead of the list
 * growing without end. */
static void test_evlog_parked_fetches_bounded(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    enum { PEERS = 300, CAP = 256 };
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "inproc://evt-park", 64);
    s_run_for(base, 300);
    assert_true(cc_evlog_ready(log));
    uint64_t head = cc_evlog_head(log);
    double evicted0 = s_metric("evlog_fetch_evicted_total{log=\"evt\"}");

    void *one = zmq_socket(zctx, ZMQ_DEALER);
    assert_int_equal(zmq_connect(one, "inproc://evt-park"), 0);
    s_raw_fetch(one, head, 600, "a");
    s_raw_fetch(one, head, 600, "b");
    s_raw_fetch(one, head, 600, "c");
    s_run_for(base, 1000);   /* past the wait: the parked one times out */
    char ids[4096];
    s_raw_replies(one, ids, sizeof ids);
    assert_string_equal(ids, "c");

    s_raw_fetch(one, head, 20000, "d");
    s_run_for(base, 100);
    void *peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        peers[i] = zmq_socket(zctx, ZMQ_DEALER);
        assert_int_equal(zmq_connect(peers[i], "inproc://evt-park"), 0);
        s_raw_fetch(peers[i], head, 20000, "p");
        s_run_for(base, 1);   /* in order: peer i parks after peer i - 1 */
    }
    s_run_for(base, 300);
    /* 301 parked in all: the 45 oldest ("one", then peers 0..43) dropped. */
    assert_int_equal(s_metric("evlog_fetch_evicted_total{log=\"evt\"}") - evicted0,
                     PEERS + 1 - CAP);
    /* An event: the 256 still parked are answered, the dropped are not. */
    PGconn *pc = s_connect();
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263')");
    PQfinish(pc);
    s_run_for(base, 1000);
    s_raw_replies(one, ids, sizeof ids);
    assert_string_equal(ids, "");
    int answered = 0;
    for (int i = 0; i < PEERS; i++) {
        s_raw_replies(peers[i], ids, sizeof ids);
        if (ids[0]) {
            assert_true(i >= PEERS - CAP);
            answered++;
        }
    }
    assert_int_equal(answered, CAP);
    int linger = 0;
    for (int i = 0; i < PEERS; i++) {
        zmq_setsockopt(peers[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(peers[i]);
    }
    zmq_setsockopt(one, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(one);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

static double s_metric(const char *name)
{
    return cc_metric_value(cc_metrics_counter(name, "test"));
}

/* Seq of the first event in the Events reply waiting on sock and how many
 * it carries; returns 0 when no reply is waiting. */
static int s_raw_events(void *sock, uint64_t *first, size_t *n)
{
    uint8_t buf[65536];
    int len = zmq_recv(sock, buf, sizeof buf, ZMQ_DONTWAIT);
    if (len < 0)
        return 0;
    assert_true(len < (int) sizeof buf);
    Cc__Envelope *env = cc__envelope__unpack(NULL, (size_t) len, buf);
    assert_non_null(env);
    assert_string_equal(env->type, "Events");
    Cc__Events *evs = cc__events__unpack(NULL, env->payload.len, env->payload.data);
    assert_non_null(evs);
    *n = evs->n_events;
    *first = 0;
    if (evs->n_events > 0) {
        Cc__Envelope *e = cc__envelope__unpack(NULL, evs->events[0].len, evs->events[0].data);
        assert_non_null(e);
        *first = e->seq;
        cc__envelope__free_unpacked(e, NULL);
    }
    cc__events__free_unpacked(evs, NULL);
    cc__envelope__free_unpacked(env, NULL);
    return 1;
}

/* Catch-up reads from the table are bounded: with the table locked (a slow
 * database), 60 consumers asking at once for events long out of the ring
 * start 32 reads; the other 28 Fetches are dropped unanswered and counted.
 * Once the lock goes, the 32 are answered; the 28 re-send (as their own
 * timeout would) and are answered too: every consumer gets its events. */
static void test_evlog_catchup_reads_bounded(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    enum { PEERS = 60, CAP = 32, EVENTS = 20 };
    PGconn *pc = s_connect();
    for (int i = 0; i < EVENTS; i++)
        s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263')");
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    /* A ring of 4: seq 2 onwards is read from the table. */
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "inproc://evt-catchup", 4);
    s_run_for(base, 500);
    assert_true(cc_evlog_ready(log));
    assert_int_equal(cc_evlog_head(log), EVENTS);
    double reads0 = s_metric("evlog_catchup_reads_total{log=\"evt\"}");
    double refused0 = s_metric("evlog_catchup_refused_total{log=\"evt\"}");

    s_sql(pc, "BEGIN");
    s_sql(pc, "LOCK TABLE evt.events IN ACCESS EXCLUSIVE MODE");
    void *peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        peers[i] = zmq_socket(zctx, ZMQ_DEALER);
        assert_int_equal(zmq_connect(peers[i], "inproc://evt-catchup"), 0);
        s_raw_fetch(peers[i], 1, 20000, "c");
    }
    s_run_for(base, 500);
    assert_int_equal(s_metric("evlog_catchup_reads_total{log=\"evt\"}") - reads0, CAP);
    assert_int_equal(s_metric("evlog_catchup_refused_total{log=\"evt\"}") - refused0,
                     PEERS - CAP);
    uint64_t first;
    size_t n;
    for (int i = 0; i < PEERS; i++)
        assert_false(s_raw_events(peers[i], &first, &n));   /* all wait on the lock */

    s_sql(pc, "COMMIT");
    s_run_for(base, 2000);
    int served[PEERS] = { 0 }, nserved = 0;
    for (int i = 0; i < PEERS; i++) {
        if (s_raw_events(peers[i], &first, &n)) {
            assert_int_equal(first, 2);
            assert_int_equal(n, 10);
            served[i] = 1;
            nserved++;
        }
    }
    assert_int_equal(nserved, CAP);
    for (int i = 0; i < PEERS; i++)
        if (!served[i])
            s_raw_fetch(peers[i], 1, 20000, "c2");
    s_run_for(base, 2000);
    for (int i = 0; i < PEERS; i++) {
        if (served[i])
            continue;
        assert_true(s_raw_events(peers[i], &first, &n));
        assert_int_equal(first, 2);
        assert_int_equal(n, 10);
        nserved++;
    }
    assert_int_equal(nserved, PEERS);
    assert_int_equal(s_metric("evlog_catchup_refused_total{log=\"evt\"}") - refused0,
                     PEERS - CAP);

    int linger = 0;
    for (int i = 0; i < PEERS; i++) {
        zmq_setsockopt(peers[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(peers[i]);
    }
    PQfinish(pc);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}


typedef struct {
    int called;
    uint64_t head;
} s_esync_t;

static void s_on_esync(void *arg, uint64_t head)
{
    s_esync_t *r = arg;
    r->called++;
    r->head = head;
}

/* cc_evlog_sync: events committed by another connection just before the
 * call are counted in the head it reports, although the log learns of them
 * only later (NOTIFY, then a scan); cc_evlog_head alone lags them. */
static void test_evlog_sync_counts_prior_commits(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "inproc://evt-sync", 64);
    s_run_for(base, 300);
    assert_true(cc_evlog_ready(log));
    PGconn *pc = s_connect();
    int lagged = 0;
    for (int round = 0; round < 20; round++) {
        s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x61') "
                  "FROM generate_series(1, 2)");
        long long max = s_scalar(pc, "SELECT max(seq) FROM evt.events");
        lagged += cc_evlog_head(log) < (uint64_t) max;
        s_esync_t r = { 0 };
        assert_int_equal(cc_evlog_sync(log, s_on_esync, &r), 0);
        int64_t t0 = cc_mono_us();
        while (!r.called && cc_mono_us() - t0 < 3000000) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            usleep(500);
        }
        assert_int_equal(r.called, 1);
        if (r.head < (uint64_t) max)
            fail_msg("round %d: sync reported head %" PRIu64 " below %lld", round, r.head, max);
    }
    assert_true(lagged > 0);   /* the head in memory did lag: the sync had work to do */
    /* Dropped uncalled when the log goes first. */
    s_esync_t r = { 0 };
    assert_int_equal(cc_evlog_sync(log, s_on_esync, &r), 0);
    cc_evlog_destroy(&log);
    assert_int_equal(r.called, 0);
    PQfinish(pc);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* The head query fails (here: the table is missing for a moment, as while
 * a migration runs): the log must try again and start serving. */
static void test_evlog_head_retried(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    PGconn *pc = s_connect();
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 5)");
    s_sql(pc, "ALTER TABLE evt.events RENAME TO events_away");
    cc_db_t *reader = s_db_ready(base);
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*", 16);
    s_run_for(base, 500);
    assert_false(cc_evlog_ready(log));
    s_sql(pc, "ALTER TABLE evt.events_away RENAME TO events");
    for (int i = 0; i < 300 && cc_evlog_head(log) != 5; i++)
        s_run_for(base, 50);
    assert_true(cc_evlog_ready(log));
    assert_int_equal(cc_evlog_head(log), 5);
    /* A scan in flight after a commit must not make the log unready: a
     * busy daemon's /readyz flapped to 503 (CI, stop 8). */
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263')");
    cc_evlog_poke(log);
    assert_true(cc_evlog_ready(log));
    for (int i = 0; i < 300 && cc_evlog_head(log) != 6; i++)
        s_run_for(base, 50);
    assert_int_equal(cc_evlog_head(log), 6);
    PQfinish(pc);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* An event log and a consumer destroyed while their databases live on
 * (and still have their statements, hooks and LISTEN): the databases must
 * never call into the freed objects (ASan). */
static void test_evlog_destroy_before_db(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_db_t *writer = s_db_ready(base);
    cc_db_prepare(writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, writer, "evt", "tcp://127.0.0.1:*", 16);
    s_run_for(base, 300);
    PGconn *pc = s_connect();
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 40)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "me", "evt",
                                       cc_evlog_endpoint(log), s_apply_fn, &app);
    cc_consumer_start(c);
    cc_consumer_destroy(&c);          /* its position query is queued */
    c = cc_consumer_new(base, zctx, writer, "me", "evt", cc_evlog_endpoint(log), s_apply_fn,
                        &app);
    cc_consumer_start(c);
    for (int i = 0; i < 200 && app.handled == 0; i++)
        s_run_for(base, 5);
    assert_true(app.handled > 0);
    cc_consumer_destroy(&c);          /* effects in flight */
    /* A catch-up read in flight (the ring holds only the last 16). */
    s_reader_t r = { .next = 1, .target = 1000, .base = base };
    r.dealer = cc_zsock_new(base, zctx, ZMQ_DEALER, 0, "gone", s_reader_cb, &r);
    cc_zsock_connect(r.dealer, cc_evlog_endpoint(log));
    s_send_fetch(&r, 0);
    for (int i = 0; i < 100 && cc_db_pending(reader) == 0; i++)
        s_run_for(base, 5);
    cc_evlog_destroy(&log);
    /* Commits on the writer, notifications and a reconnect of the reader. */
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263')");
    const char *vals[1] = { "1" };
    cc_db_exec(writer, "ins", 1, vals, NULL, NULL, NULL, NULL);
    int pid = 0;
    cc_db_exec(reader, "pid", 0, NULL, NULL, NULL, s_pid_cb, &pid);
    s_run_for(base, 500);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
    s_sql(pc, sql);
    s_run_for(base, 1000);
    assert_true(cc_db_connected(reader));
    PQfinish(pc);
    cc_zsock_destroy(&r.dealer);
    cc_db_destroy(&writer);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* ---------------------------------------------------------- cc_zsock */

typedef struct {
    int got;
    int target;
    struct event_base *base;
} s_sink_t;

static void s_sink_cb(cc_zsock_t *s, const void *const *frames, const size_t *lens, int n,
                      void *arg)
{
    (void) s;
    (void) frames;
    (void) lens;
    s_sink_t *k = arg;
    assert_int_equal(n, 2);   /* ROUTER: identity + body */
    if (++k->got == k->target)
        event_base_loopbreak(k->base);
}

/* A burst far over the drain budget is read completely (the edge-triggered
 * fd is re-armed by hand); messages with too many frames are dropped. */
static void test_zsock_drains_burst(void **state)
{
    (void) state;
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    s_sink_t k = { .target = 5000, .base = base };
    cc_zsock_t *router = cc_zsock_new(base, zctx, ZMQ_ROUTER, 1024, "sink", s_sink_cb, &k);
    assert_int_equal(cc_zsock_bind(router, "tcp://127.0.0.1:*"), 0);
    void *raw = zmq_socket(zctx, ZMQ_DEALER);
    assert_int_equal(zmq_connect(raw, cc_zsock_endpoint(router)), 0);
    for (int i = 0; i < 12; i++)    /* 13 frames with the identity: dropped */
        zmq_send(raw, "f", 1, ZMQ_SNDMORE);
    zmq_send(raw, "f", 1, 0);
    for (int i = 0; i < 5000; i++)
        zmq_send(raw, "hello", 5, 0);
    s_run_for(base, 10000);
    assert_int_equal(k.got, 5000);
    char *text = cc_metrics_render();
    assert_non_null(strstr(text, "zmq_rejected_total{socket=\"sink\",reason=\"frames\"} 1"));
    free(text);
    zmq_close(raw);
    cc_zsock_destroy(&router);
    assert_null(router);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* ------------------------------------------------- failing allocations */

static void s_nop_sink(cc_zsock_t *s, const void *const *frames, const size_t *lens, int n,
                       void *arg)
{
    (void) s;
    (void) frames;
    (void) lens;
    (void) n;
    (void) arg;
}

/* The Nth allocation of a constructor fails, for N = 0, 1, ... until one
 * needs no more: it must return NULL and leak nothing (ASan, valgrind), or
 * return a whole object only when nothing failed. Needs no database: the
 * dbs point at a closed port and are never connected. */
static void test_constructors_fail_nth_allocation(void **state)
{
    (void) state;
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    const char *ci = "host=127.0.0.1 port=1 connect_timeout=1";
    /* The metrics registry is shared and never shrinks: register every
     * series once, so only the objects' own allocations are counted. */
    cc_zsock_t *z = cc_zsock_new(base, zctx, ZMQ_DEALER, 0, "alloc", s_nop_sink, NULL);
    cc_db_t *r = cc_db_new(base, ci, "alloc");
    cc_evlog_t *l = cc_evlog_new(base, zctx, r, r, "alloc", "tcp://127.0.0.1:*", 16);
    assert_true(z && r && l);
    cc_evlog_destroy(&l);
    cc_db_destroy(&r);
    cc_zsock_destroy(&z);

    for (int which = 0; which < 3; which++) {
        static const char *names[] = { "cc_zsock_new", "cc_db_new", "cc_evlog_new" };
        long n;
        for (n = 0; n < 10000; n++) {
            /* Fresh dbs: prepares and LISTENs registered by a failed try
             * must not hide the allocations of the next one. */
            cc_db_t *reader = which >= 2 ? cc_db_new(base, ci, "alloc") : NULL;
            void *obj = NULL;
            s_alloc_arm(n);
            switch (which) {
            case 0:
                obj = cc_zsock_new(base, zctx, ZMQ_ROUTER, 1024, "alloc", s_nop_sink, NULL);
                break;
            case 1:
                obj = cc_db_new(base, ci, "alloc");
                break;
            default:
                obj = cc_evlog_new(base, zctx, reader, reader, "alloc", "tcp://127.0.0.1:*", 16);
                break;
            }
            s_alloc_disarm();
            int failed = s_alloc_failed;
            if (failed && obj)
                printf("%s: allocation %ld failed but it returned an object\n", names[which], n);
            switch (which) {
            case 0: { cc_zsock_t *o = obj; cc_zsock_destroy(&o); break; }
            case 1: { cc_db_t *o = obj; cc_db_destroy(&o); break; }
            default: { cc_evlog_t *o = obj; cc_evlog_destroy(&o); break; }
            }
            cc_db_destroy(&reader);
            if (!failed) {
                assert_non_null(obj);
                break;
            }
            assert_null(obj);
        }
        printf("%s: %ld allocations, each failure handled\n", names[which], n);
        assert_true(n > 0 && n < 10000);
    }
    zmq_ctx_term(zctx);
    event_base_free(base);
}

int main(void)
{
    /* libevent's allocations count too (before any libevent call). */
    event_set_mem_functions(s_ev_malloc, s_ev_realloc, free);
    cc_log_init("test", "error");
    const char *db = getenv("CC_TEST_DB");
    if (db && *db) {
        snprintf(s_conninfo, sizeof s_conninfo, "%s options=-csearch_path=evt", db);
        s_have_db = 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zsock_drains_burst),
        cmocka_unit_test(test_constructors_fail_nth_allocation),
        cmocka_unit_test(test_db_connect_timeout),
        cmocka_unit_test_setup(test_db_bad_prepare_alone, s_setup),
        cmocka_unit_test_setup(test_db_commit_time_error, s_setup),
        cmocka_unit_test_setup(test_db_batch_isolates_failure, s_setup),
        cmocka_unit_test_setup(test_db_exec_fill, s_setup),
        cmocka_unit_test_setup(test_db_reconnect_keeps_work, s_setup),
        cmocka_unit_test_setup(test_db_destroy_from_callback, s_setup),
        cmocka_unit_test(test_db_err_class),
        cmocka_unit_test_setup(test_db_transient_retried, s_setup),
        cmocka_unit_test_setup(test_db_statement_timeout_retried, s_setup),
        cmocka_unit_test_setup(test_db_queue_bounded, s_setup),
        cmocka_unit_test_setup(test_evlog_concurrent_writers_no_skip, s_setup),
        cmocka_unit_test_setup(test_evlog_rejects_garbage, s_setup),
        cmocka_unit_test_setup(test_evlog_parked_fetches_bounded, s_setup),
        cmocka_unit_test_setup(test_evlog_catchup_reads_bounded, s_setup),
        cmocka_unit_test_setup(test_evlog_destroy_before_db, s_setup),
        cmocka_unit_test_setup(test_evlog_head_retried, s_setup),
        cmocka_unit_test_setup(test_evlog_sync_counts_prior_commits, s_setup),
    };
    int rc = cmocka_run_group_tests_name("cc_evlog", tests, NULL, NULL);
    cc_metrics_reset();
    return rc;
}
