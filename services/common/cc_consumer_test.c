/* Tests for cc_consumer against a real PostgreSQL and a real cc_evlog.
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

#include "cc_consumer.h"
#include "cc_db.h"
#include "cc_event.h"
#include "cc_evlog.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zsock.h"

#include "cc_test_pg.h"

/* ------------------------------------------------------------ helpers */

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

/* ------------------------------------------------------ cc_consumer */

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

/* Consume our own log while it grows; drop the consumer half-way (as a
 * crash would) and start a new one: every event applied exactly once. */
static void test_consumer_exactly_once_across_restart(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db_ready(base);
    cc_db_t *writer = s_db_ready(base);
    cc_db_prepare(writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, writer, "evt", "tcp://127.0.0.1:*", 64);
    s_run_for(base, 300);
    PGconn *pc = s_connect();
    long long before = s_scalar(pc, "SELECT coalesce(max(seq), 0) FROM evt.events");
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 300)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "me", "evt",
                                       cc_evlog_endpoint(log), s_apply_fn, &app);
    assert_non_null(c);
    cc_consumer_start(c);
    s_run_for(base, 300);
    /* Crash: the consumer vanishes whatever it was doing. */
    cc_consumer_destroy(&c);
    s_run_for(base, 200);   /* statements already queued still commit */
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 200)");
    c = cc_consumer_new(base, zctx, writer, "me", "evt", cc_evlog_endpoint(log),
                        s_apply_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 4000);
    long long total = s_scalar(pc, "SELECT coalesce(max(seq), 0) FROM evt.events") - before;
    assert_int_equal(total, 500);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 500 + before);
    assert_int_equal(s_scalar(pc, "SELECT count(DISTINCT event_id) FROM evt.applied"),
                     500 + before);
    assert_int_equal(cc_consumer_position(c), (uint64_t) (500 + before));
    assert_true(cc_consumer_caught_up(c));
    PQfinish(pc);
    cc_consumer_destroy(&c);
    cc_evlog_destroy(&log);
    cc_db_destroy(&writer);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* Producer "evt" (reader, writer with t_apply_poison prepared) and n events
 * in its log, for the consumer tests. */
typedef struct {
    struct event_base *base;
    void *zctx;
    cc_db_t *reader, *writer;
    cc_evlog_t *log;
    PGconn *pc;
} s_fx_t;

static void s_fx_up(s_fx_t *fx, int n)
{
    fx->base = event_base_new();
    fx->zctx = zmq_ctx_new();
    fx->reader = s_db_ready(fx->base);
    fx->writer = s_db_ready(fx->base);
    cc_db_prepare(fx->writer, "t_apply_poison", "SELECT t_apply_poison($1, $2, $3::uuid)");
    fx->log = cc_evlog_new(fx->base, fx->zctx, fx->reader, fx->writer, "evt",
                           "tcp://127.0.0.1:*", 64);
    s_run_for(fx->base, 300);
    fx->pc = s_connect();
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, "
             "'\\x616263') FROM generate_series(1, %d)", n);
    s_sql(fx->pc, sql);
}

static void s_fx_down(s_fx_t *fx, cc_consumer_t **c)
{
    PQfinish(fx->pc);
    cc_consumer_destroy(c);
    cc_evlog_destroy(&fx->log);
    cc_db_destroy(&fx->writer);
    cc_db_destroy(&fx->reader);
    zmq_ctx_term(fx->zctx);
    event_base_free(fx->base);
}

static int s_apply_poison_fn(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    s_app_t *a = arg;
    a->handled++;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    const char *v[3] = { "evt", seq, env->id };
    return cc_consumer_exec(c, "t_apply_poison", 3, v, NULL, NULL, NULL, NULL);
}

/* The effect of one event fails while later events of the same batch would
 * succeed. The stored position must stay before the failed event, so a
 * restart (the crash-only rule restarts a daemon on any SQL error) retries
 * it instead of resuming after it and skipping it for ever. */
static void test_consumer_failed_effect_never_skipped(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 10);
    struct event_base *base = fx.base;
    PGconn *pc = fx.pc;
    s_sql(pc, "INSERT INTO evt.poison VALUES (4)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_poison_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 1500);
    assert_true(app.handled >= 4);
    assert_true(cc_consumer_position(c) < 4);
    /* What a restarted consumer would resume from. */
    assert_int_equal(s_scalar(pc, "SELECT evt.cc_position('evt')"), 3);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 3);
    cc_consumer_destroy(&c);
    s_run_for(base, 300);

    /* Fixed (the poison is gone): a new consumer applies 4..10. */
    s_sql(pc, "DELETE FROM evt.poison");
    c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt", cc_evlog_endpoint(fx.log),
                        s_apply_poison_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 2000);
    assert_int_equal(cc_consumer_position(c), 10);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 10);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied WHERE seq = 4"), 1);
    s_fx_down(&fx, &c);
}

/* A producer whose database lost events we applied (restored from an
 * older backup) is reported: the consumer waits for it, visibly. */
static void test_consumer_reports_producer_behind(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 5);
    struct event_base *base = fx.base;
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_poison_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 1500);
    assert_int_equal(cc_consumer_position(c), 5);
    const char *gauge = "consumer_ahead_events{consumer=\"me\",log=\"evt\"}";
    assert_true(cc_metric_value(cc_metrics_gauge(gauge, "test")) == 0.0);
    cc_consumer_destroy(&c);
    cc_evlog_destroy(&fx.log);
    /* The producer comes back with its last two events gone. */
    s_sql(fx.pc, "DELETE FROM evt.events WHERE seq > 3");
    fx.log = cc_evlog_new(base, fx.zctx, fx.reader, fx.writer, "evt", "tcp://127.0.0.1:*", 64);
    s_run_for(base, 300);
    c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt", cc_evlog_endpoint(fx.log),
                        s_apply_poison_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 2500);
    assert_int_equal(cc_consumer_position(c), 5);
    assert_true(cc_metric_value(cc_metrics_gauge(gauge, "test")) == 2.0);
    /* It catches up: new events past our position are applied, the gauge clears. */
    s_sql(fx.pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
                 "FROM generate_series(1, 3)");
    s_run_for(base, 2500);
    assert_int_equal(cc_consumer_position(c), 6);
    assert_true(cc_metric_value(cc_metrics_gauge(gauge, "test")) == 0.0);
    s_fx_down(&fx, &c);
}

/* Applies every fifth event (by seq) and ignores the rest. */
static int s_apply_fifth_fn(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    s_app_t *a = arg;
    a->handled++;
    if (env->seq % 5 != 0)
        return 0;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    const char *v[3] = { "evt", seq, env->id };
    return cc_consumer_exec(c, "t_apply_poison", 3, v, NULL, NULL, NULL, NULL);
}

/* Ignored events are recorded a run at a time (one inbox row per run, not
 * per event), and the in-order rule still holds: when the effect of event
 * 10 fails, the run 11..14 after it is refused too, so a restart resumes at
 * 10 and never skips it. */
static void test_consumer_skips_runs_in_order(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 23);
    struct event_base *base = fx.base;
    PGconn *pc = fx.pc;
    s_sql(pc, "INSERT INTO evt.poison VALUES (10)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_fifth_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 1500);
    /* 1..4 skipped, 5 applied, 6..9 skipped; 10 fails and stops the log. */
    assert_int_equal(s_scalar(pc, "SELECT evt.cc_position('evt')"), 9);
    assert_true(cc_consumer_position(c) < 10);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 1);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.inbox WHERE producer = 'evt'"), 3);
    cc_consumer_destroy(&c);
    s_run_for(base, 300);

    /* Fixed: a new consumer (a restart) goes on from 9 to the end. */
    s_sql(pc, "DELETE FROM evt.poison");
    c = cc_consumer_new(base, fx.zctx, fx.writer, "me", "evt", cc_evlog_endpoint(fx.log),
                        s_apply_fifth_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 2000);
    assert_int_equal(cc_consumer_position(c), 23);
    assert_int_equal(s_scalar(pc, "SELECT evt.cc_position('evt')"), 23);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 4);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied WHERE seq = 10"), 1);
    /* Runs 1-4, 6-9, 11-14, 16-19, 21-23 and effects 5, 10, 15, 20: 9 rows for 23 events. */
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.inbox WHERE producer = 'evt'"), 9);
    /* An event inside a recorded run is not applied later. */
    assert_int_equal(s_scalar(pc, "SELECT evt.cc_consume('evt', 12, gen_random_uuid())::int"),
                     0);
    /* A run may not start past the position, as an effect may not. */
    PGresult *r = PQexec(pc, "SELECT evt.cc_skip('evt', 25, 26, gen_random_uuid())");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "CC001");
    PQclear(r);
    s_fx_down(&fx, &c);
}

static double s_metric(const char *name)
{
    return cc_metric_value(cc_metrics_counter(name, "test"));
}

/* A consumer must not spin while it cannot progress: neither while the
 * producer cannot load its head (its database is down at start), nor when
 * the producer serves a gap (an event missing from the table). */
static void test_consumer_no_spin_without_progress(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *writer = s_db_ready(base);
    cc_db_prepare(writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");

    /* 1. Producer whose reader never connects. */
    cc_db_t *dead = cc_db_new(base, "host=127.0.0.1 port=1 connect_timeout=1", "dead");
    cc_evlog_t *down = cc_evlog_new(base, zctx, dead, NULL, "evdown", "tcp://127.0.0.1:*", 16);
    assert_non_null(down);
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "me", "evdown",
                                       cc_evlog_endpoint(down), s_apply_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 1500);
    double fetches = s_metric("evlog_fetch_total{log=\"evdown\"}");
    printf("fetches while the producer has no head: %.0f\n", fetches);
    assert_true(fetches <= 4);
    assert_false(cc_consumer_caught_up(c));
    cc_consumer_destroy(&c);
    cc_evlog_destroy(&down);
    cc_db_destroy(&dead);

    /* 2. A gap in the table, beyond the ring: served by catch-up reads. */
    cc_db_t *reader = s_db_ready(base);
    PGconn *pc = s_connect();
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 40)");
    s_sql(pc, "DELETE FROM evt.events WHERE seq = 5");
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*", 16);
    s_run_for(base, 300);
    c = cc_consumer_new(base, zctx, writer, "me", "evt", cc_evlog_endpoint(log), s_apply_fn,
                        &app);
    double before = s_metric("evlog_fetch_total{log=\"evt\"}");
    cc_consumer_start(c);
    s_run_for(base, 1500);
    fetches = s_metric("evlog_fetch_total{log=\"evt\"}") - before;
    printf("fetches while a gap is served: %.0f\n", fetches);
    assert_int_equal(cc_consumer_position(c), 4);   /* stops before the gap */
    assert_true(fetches <= 5);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM evt.applied"), 4);
    PQfinish(pc);
    cc_consumer_destroy(&c);
    s_run_for(base, 100);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    cc_db_destroy(&writer);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

typedef struct {
    int fetches;
    uint8_t ident[256];
    size_t ident_len;
    char first_id[64];
} s_fake_t;

/* A producer whose answers are always late: it answers the first Fetch
 * only after the consumer has timed out and re-sent it, and never the
 * re-sent one (as when every catch-up read takes longer than the
 * consumer's timeout). */
static void s_fake_cb(cc_zsock_t *s, const void *const *frames, const size_t *lens, int n,
                      void *arg)
{
    s_fake_t *f = arg;
    assert_int_equal(n, 2);
    Cc__Envelope *env = cc__envelope__unpack(NULL, lens[1], frames[1]);
    assert_non_null(env);
    if (++f->fetches == 1) {
        memcpy(f->ident, frames[0], lens[0]);
        f->ident_len = lens[0];
        snprintf(f->first_id, sizeof f->first_id, "%s", env->id);
    } else if (f->fetches == 2) {
        ProtobufCBinaryData items[3];
        for (int i = 0; i < 3; i++) {
            char id[CC_UUID_LEN];
            cc_uuid(id);
            Cc__Envelope e = CC__ENVELOPE__INIT;
            e.seq = (uint64_t) i + 1;
            e.id = id;
            e.type = "Tick";
            e.key = "k";
            e.producer = "fake";
            e.payload.data = (uint8_t *) "abc";
            e.payload.len = 3;
            items[i].data = cc_pb_pack(&e.base, &items[i].len);
        }
        Cc__Events evs = CC__EVENTS__INIT;
        evs.events = items;
        evs.n_events = 3;
        evs.head_seq = 3;
        size_t ilen;
        uint8_t *inner = cc_pb_pack(&evs.base, &ilen);
        Cc__Envelope out = CC__ENVELOPE__INIT;
        out.type = "Events";
        out.id = f->first_id;   /* answers the first Fetch, late */
        out.producer = "fake";
        out.payload.data = inner;
        out.payload.len = ilen;
        size_t len;
        uint8_t *bytes = cc_pb_pack(&out.base, &len);
        const void *fr[2] = { f->ident, bytes };
        size_t fl[2] = { f->ident_len, len };
        cc_zsock_sendv(s, fr, fl, 2);
        free(bytes);
        free(inner);
        for (int i = 0; i < 3; i++)
            free(items[i].data);
    }
    cc__envelope__free_unpacked(env, NULL);
}

static void test_consumer_takes_late_reply(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *writer = s_db_ready(base);
    cc_db_prepare(writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    s_fake_t f = { 0 };
    cc_zsock_t *router = cc_zsock_new(base, zctx, ZMQ_ROUTER, 0, "fake", s_fake_cb, &f);
    assert_int_equal(cc_zsock_bind(router, "tcp://127.0.0.1:*"), 0);
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "me", "fake",
                                       cc_zsock_endpoint(router), s_apply_fn, &app);
    cc_consumer_start(c);
    for (int i = 0; i < 160 && cc_consumer_position(c) < 3; i++)
        s_run_for(base, 50);
    assert_true(f.fetches >= 2);
    assert_int_equal(cc_consumer_position(c), 3);
    assert_int_equal(app.handled, 3);
    cc_consumer_destroy(&c);
    s_run_for(base, 100);
    cc_zsock_destroy(&router);
    cc_db_destroy(&writer);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

typedef struct {
    int fetches;
} s_count_fetch_t;

static void s_count_fetch_cb(cc_zsock_t *s, const void *const *frames, const size_t *lens,
                             int n, void *arg)
{
    (void) s;
    (void) frames;
    (void) lens;
    (void) n;
    ((s_count_fetch_t *) arg)->fetches++;
}

/* While its producer is down a consumer re-sends its Fetch every few
 * seconds; the producer coming back must not receive the whole backlog of
 * re-sent Fetches at once (each would cost it a catch-up read). */
static void test_consumer_no_fetch_backlog(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *writer = s_db_ready(base);
    /* A free port, for a producer that is not there yet. */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(ls, (struct sockaddr *) &sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *) &sa, &sl);
    close(ls);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "me", "late", ep, s_apply_fn, &app);
    cc_consumer_start(c);
    s_run_for(base, 9000);   /* the first Fetch and two re-sends */
    s_count_fetch_t k = { 0 };
    cc_zsock_t *router = cc_zsock_new(base, zctx, ZMQ_ROUTER, 0, "late", s_count_fetch_cb, &k);
    assert_int_equal(cc_zsock_bind(router, ep), 0);
    s_run_for(base, 1500);
    printf("fetches delivered when the producer came back: %d\n", k.fetches);
    assert_true(k.fetches <= 1);
    cc_consumer_destroy(&c);
    cc_zsock_destroy(&router);
    cc_db_destroy(&writer);
    zmq_ctx_term(zctx);
    event_base_free(base);
}


/* ------------------------------------------------- failing allocations */

static int s_nop_consume(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    (void) c;
    (void) env;
    (void) arg;
    return 0;
}

/* ------------------------------------------------ read your writes */

typedef struct {
    struct event_base *base;
    cc_consumer_t *c;
    int called, reached;
    uint64_t position;            /* the consumer's, when fn ran */
    int64_t at_us;
} s_sync_rec_t;

static void s_on_sync(void *arg, int reached)
{
    s_sync_rec_t *r = arg;
    r->called++;
    r->reached = reached;
    r->position = cc_consumer_position(r->c);
    r->at_us = cc_mono_us();
}

/* Run the loop until r is called (at most ms); the milliseconds it took.
 * Polled: a loopexit timer left behind would cut a later run short. */
static int64_t s_until_synced(s_sync_rec_t *r, int ms)
{
    int64_t t0 = cc_mono_us();
    while (!r->called && cc_mono_us() - t0 < (int64_t) ms * 1000) {
        event_base_loop(r->base, EVLOOP_NONBLOCK);
        usleep(500);
    }
    return r->called ? (r->at_us - t0) / 1000 : -1;
}

/* seq 0: the consumer catches up with what the producer had committed when
 * the call was made (events appended by another connection just before,
 * which the producer learns of only through a NOTIFY and a scan), and a
 * caught-up consumer long polling a quiet producer answers at once, not
 * when its long poll ends (1 s). */
static void test_consumer_sync_fresh_head(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 5);
    cc_db_prepare(fx.writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(fx.base, fx.zctx, fx.writer, "me", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_fn, &app);
    cc_consumer_start(c);
    s_run_for(fx.base, 1500);
    assert_true(cc_consumer_caught_up(c));
    for (int round = 0; round < 20; round++) {
        s_sql(fx.pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x61') "
                     "FROM generate_series(1, 3)");
        long long head = s_scalar(fx.pc, "SELECT max(seq) FROM evt.events");
        s_sync_rec_t r = { .base = fx.base, .c = c };
        assert_int_equal(cc_consumer_sync(c, 0, 3000, s_on_sync, &r), 0);
        assert_int_equal(cc_consumer_syncs(c), 1);
        assert_true(s_until_synced(&r, 4000) >= 0);
        assert_int_equal(r.called, 1);
        assert_int_equal(r.reached, 1);
        if (r.position < (uint64_t) head)
            fail_msg("round %d: synced at %" PRIu64 " before the head %lld", round,
                     r.position, head);
        assert_int_equal(cc_consumer_syncs(c), 0);
    }
    /* Nothing new: answered at once, not after the parked long poll (1 s). */
    s_run_for(fx.base, 300);   /* a long poll is parked again */
    s_sync_rec_t r = { .base = fx.base, .c = c };
    assert_int_equal(cc_consumer_sync(c, 0, 3000, s_on_sync, &r), 0);
    int64_t ms = s_until_synced(&r, 4000);
    assert_int_equal(r.reached, 1);
    if (ms > 500)
        fail_msg("a sync with nothing new took %" PRId64 " ms", ms);
    s_fx_down(&fx, &c);
}

/* seq > 0: reached when the position gets there; at once (1) when it is
 * there already; fn(0) after timeout_ms for a seq that never comes; fn(0)
 * at stop, and no sync after it; dropped uncalled at destroy. */
static void test_consumer_sync_seq_timeout_stop(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 4);
    cc_db_prepare(fx.writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(fx.base, fx.zctx, fx.writer, "me", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_fn, &app);
    cc_consumer_start(c);
    s_run_for(fx.base, 1500);
    uint64_t pos = cc_consumer_position(c);
    assert_true(pos >= 4);
    s_sync_rec_t r = { .base = fx.base, .c = c };
    assert_int_equal(cc_consumer_sync(c, pos, 1000, s_on_sync, &r), 1);
    assert_int_equal(r.called, 0);

    assert_int_equal(cc_consumer_sync(c, pos + 2, 3000, s_on_sync, &r), 0);
    s_run_for(fx.base, 100);
    assert_int_equal(r.called, 0);   /* not before the events exist */
    s_sql(fx.pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x61') "
                 "FROM generate_series(1, 2)");
    assert_true(s_until_synced(&r, 4000) >= 0);
    assert_int_equal(r.reached, 1);
    assert_true(r.position >= pos + 2);

    s_sync_rec_t t = { .base = fx.base, .c = c };
    int64_t t0 = cc_mono_us();
    assert_int_equal(cc_consumer_sync(c, pos + 1000, 200, s_on_sync, &t), 0);
    s_until_synced(&t, 3000);
    assert_int_equal(t.called, 1);
    assert_int_equal(t.reached, 0);
    int64_t ms = (t.at_us - t0) / 1000;
    if (ms < 190 || ms > 1000)
        fail_msg("a 200 ms sync timed out after %" PRId64 " ms", ms);

    s_sync_rec_t u = { .base = fx.base, .c = c };
    assert_int_equal(cc_consumer_sync(c, pos + 1000, 10000, s_on_sync, &u), 0);
    assert_int_equal(cc_consumer_sync(c, 0, 10000, s_on_sync, &u), 0);
    cc_consumer_stop(c);
    assert_int_equal(u.called, 2);
    assert_int_equal(u.reached, 0);
    assert_int_equal(cc_consumer_syncs(c), 0);
    assert_int_equal(cc_consumer_sync(c, 0, 1000, s_on_sync, &u), -1);

    cc_consumer_t *d = cc_consumer_new(fx.base, fx.zctx, fx.writer, "me2", "evt",
                                       cc_evlog_endpoint(fx.log), s_nop_consume, NULL);
    s_sync_rec_t v = { .base = fx.base, .c = d };
    assert_int_equal(cc_consumer_sync(d, 5, 10000, s_on_sync, &v), 0);
    cc_consumer_destroy(&d);   /* leaks nothing (ASan), calls nobody */
    assert_int_equal(v.called, 0);
    s_fx_down(&fx, &c);
}

/* ------------------------------------------------------- consumer tables */

/* Append one event of type with payload bytes to evt's log. */
static void s_append(PGconn *pc, const char *type, const void *payload, size_t len)
{
    const char *v[2] = { type, payload };
    int lens[2] = { 0, (int) len }, fmts[2] = { 0, 1 };
    PGresult *r = PQexecParams(pc, "SELECT evt.cc_append($1, gen_random_uuid(), 'k', 1, $2)",
                               2, NULL, v, lens, fmts, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
}

typedef struct {
    int handled;
    char order_id[CC_UUID_LEN];
} s_table_app_t;

static int s_on_failed(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                       void *arg)
{
    s_table_app_t *a = arg;
    const Cc__OrderFailed *m = (const Cc__OrderFailed *) msg;
    a->handled++;
    snprintf(a->order_id, sizeof a->order_id, "%s", m->order_id);
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    const char *v[3] = { "evt", seq, env->id };
    return cc_consumer_exec(c, "t_apply", 3, v, NULL, NULL, NULL, NULL);
}

static const cc_consumer_entry_t s_table[] = {
    { "OrderFailed", &cc__order_failed__descriptor, s_on_failed },
    { NULL, NULL, NULL },
};

/* A table consumer over a real log: a payload that is no protobuf, one
 * that fails its schema and one over the size cap are counted (by reason)
 * and skipped, a type not in the table is skipped uncounted, and the good
 * event after them is applied. */
static void test_consumer_table_rejects_bad_payloads(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 0);
    cc_db_prepare(fx.writer, "t_apply", "SELECT t_apply($1, $2, $3::uuid)");
    char good_id[CC_UUID_LEN];
    cc_uuid(good_id);
    Cc__OrderFailed bad = CC__ORDER_FAILED__INIT;
    bad.order_id = "not-a-uuid";
    bad.reason = "no_caregiver";
    size_t bad_len;
    uint8_t *bad_bytes = cc_pb_pack(&bad.base, &bad_len);   /* cc_event_pack would abort */
    Cc__OrderFailed good = CC__ORDER_FAILED__INIT;
    good.order_id = good_id;
    good.reason = "no_caregiver";
    size_t good_len;
    uint8_t *good_bytes = cc_event_pack(&good.base, &good_len);
    static uint8_t big[CC_EVENT_MAX_PAYLOAD + 1];
    static const char junk[] = "\xff\xff\xff not protobuf";
    s_append(fx.pc, "OrderFailed", junk, sizeof junk - 1);              /* 1 */
    s_append(fx.pc, "OrderFailed", bad_bytes, bad_len);                /* 2 */
    s_append(fx.pc, "OrderFailed", big, sizeof big);                   /* 3 */
    s_append(fx.pc, "Tick", "abc", 3);                                 /* 4 */
    s_append(fx.pc, "OrderFailed", good_bytes, good_len);              /* 5 */
    free(bad_bytes);
    free(good_bytes);
    const char *all = "consumer_rejected_total{consumer=\"me\",log=\"evt\"}";
    double before = s_metric(all);
    s_table_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new_table(fx.base, fx.zctx, fx.writer, "me", "evt",
                                             cc_evlog_endpoint(fx.log), s_table, &app);
    assert_non_null(c);
    cc_consumer_start(c);
    for (int i = 0; i < 60 && cc_consumer_position(c) < 5; i++)
        s_run_for(fx.base, 50);
    assert_int_equal(cc_consumer_position(c), 5);
    assert_int_equal(app.handled, 1);
    assert_string_equal(app.order_id, good_id);
    assert_int_equal(s_scalar(fx.pc, "SELECT count(*) FROM evt.applied"), 1);
    assert_int_equal(s_scalar(fx.pc, "SELECT max(seq) FROM evt.applied"), 5);
    assert_true(s_metric(all) - before == 3.0);
    static const char *const reasons[] = { "malformed", "schema", "too_large" };
    for (size_t i = 0; i < 3; i++) {
        char name[200];
        snprintf(name, sizeof name, "consumer_events_rejected_total{consumer=\"me\",log=\"evt\","
                 "type=\"OrderFailed\",reason=\"%s\"}", reasons[i]);
        assert_true(s_metric(name) == 1.0);
    }
    s_fx_down(&fx, &c);
}

/* ------------------------------------------------------------ pruning */

/* A reader that sends one Fetch by hand (as party `who`) and records the
 * reply: how many events, the first and last seq. */
typedef struct {
    struct event_base *base;
    cc_zsock_t *dealer;
    int replied;
    size_t n;
    uint64_t first, last;
} s_peek_t;

static void s_peek_cb(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                      void *arg)
{
    (void) sock;
    s_peek_t *p = arg;
    assert_int_equal(n, 1);
    Cc__Envelope *env = cc__envelope__unpack(NULL, lens[0], frames[0]);
    assert_non_null(env);
    Cc__Events *evs = cc__events__unpack(NULL, env->payload.len, env->payload.data);
    assert_non_null(evs);
    p->n = evs->n_events;
    p->first = p->last = 0;
    for (size_t i = 0; i < evs->n_events; i++) {
        Cc__Envelope *e = cc__envelope__unpack(NULL, evs->events[i].len, evs->events[i].data);
        assert_non_null(e);
        if (i == 0)
            p->first = e->seq;
        assert_true(i == 0 || e->seq == p->last + 1);   /* never a hole inside a reply */
        p->last = e->seq;
        cc__envelope__free_unpacked(e, NULL);
    }
    cc__events__free_unpacked(evs, NULL);
    cc__envelope__free_unpacked(env, NULL);
    p->replied = 1;
    event_base_loopbreak(p->base);
}

/* Fetch after `after` as `who` from log; returns the reply's count. */
static size_t s_peek(s_fx_t *fx, cc_evlog_t *log, const char *who, uint64_t after, s_peek_t *p)
{
    memset(p, 0, sizeof *p);
    p->base = fx->base;
    p->dealer = cc_zsock_new(fx->base, fx->zctx, ZMQ_DEALER, 0, "peek", s_peek_cb, p);
    assert_non_null(p->dealer);
    assert_int_equal(cc_zsock_connect(p->dealer, cc_evlog_endpoint(log)), 0);
    Cc__Fetch f = CC__FETCH__INIT;
    f.after_seq = after;
    f.max_events = 1000;
    f.wait_ms = 0;
    f.consumer = (char *) who;
    size_t ilen;
    uint8_t *inner = cc_pb_pack(&f.base, &ilen);
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Fetch";
    env.id = "1";
    env.payload.data = inner;
    env.payload.len = ilen;
    size_t len;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    const void *fr[1] = { out };
    size_t lens[1] = { len };
    for (int i = 0; i < 50 && cc_zsock_sendv(p->dealer, fr, lens, 1) != 0; i++)
        s_run_for(fx->base, 20);   /* ZMQ_IMMEDIATE-like: not connected yet */
    free(inner);
    free(out);
    for (int i = 0; i < 100 && !p->replied; i++)
        s_run_for(fx->base, 20);
    assert_true(p->replied);
    cc_zsock_destroy(&p->dealer);
    return p->n;
}

/* One pass, waited for (evlog_prune_passes_total moves when it is done). */
static void s_prune(s_fx_t *fx, cc_evlog_t *log)
{
    cc_metric_t *passes = cc_metrics_counter("evlog_prune_passes_total{log=\"evt\"}", "t");
    double before = cc_metric_value(passes);
    int queued = 0;
    for (int i = 0; i < 250 && !queued; i++)
        if (!(queued = cc_evlog_prune_now(log) == 0))
            s_run_for(fx->base, 20);   /* a pass in flight, or the log not serving yet */
    assert_true(queued);
    for (int i = 0; i < 250 && cc_metric_value(passes) <= before; i++)
        s_run_for(fx->base, 20);
    assert_true(cc_metric_value(passes) > before);
}

static long long s_count(PGconn *pc, const char *sql)
{
    return s_scalar(pc, sql);
}

/* Events go only once every listed reader has passed them, the newest
 * never; inbox rows below the position go; a lagging reader still gets
 * every event it has not passed; a reader that has not fetched since the
 * producer restarted still holds its events back (its position persisted);
 * a restarted producer serves on from the newest event. */
static void test_prune_only_what_every_reader_passed(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 100);
    PGconn *pc = fx.pc;
    const char *ev_min = "SELECT coalesce(min(seq), 0) FROM evt.events";
    const char *ev_max = "SELECT coalesce(max(seq), 0) FROM evt.events";
    const char *ev_n = "SELECT count(*) FROM evt.events";
    assert_int_equal(cc_evlog_prune_set(fx.log, "r1, r2", "evt", 0, 0), 0);
    /* r1: a real consumer, applies all 100 (its inbox rows: 100). */
    s_app_t app = { 0 };
    cc_consumer_t *c = cc_consumer_new(fx.base, fx.zctx, fx.writer, "r1", "evt",
                                       cc_evlog_endpoint(fx.log), s_apply_poison_fn, &app);
    cc_consumer_start(c);
    for (int i = 0; i < 100 && cc_consumer_position(c) < 100; i++)
        s_run_for(fx.base, 50);
    assert_int_equal(cc_consumer_position(c), 100);
    assert_int_equal(s_count(pc, "SELECT count(*) FROM evt.inbox"), 100);

    /* r2 has never fetched: no event goes; the inbox keeps only its newest row. */
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, ev_n), 100);
    assert_int_equal(s_count(pc, "SELECT count(*) FROM evt.inbox"), 1);
    assert_int_equal(s_count(pc, "SELECT cc_position('evt')"), 100);
    assert_true(cc_metric_value(cc_metrics_gauge("evlog_prune_floor_seq{log=\"evt\"}", "t"))
                == -1.0);

    /* r2 reports 40: 1..40 go, 41..100 stay; it still gets all it lacks. */
    s_peek_t p;
    assert_int_equal(s_peek(&fx, fx.log, "r2", 40, &p), 60);
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, ev_min), 41);
    assert_int_equal(s_count(pc, ev_n), 60);
    assert_int_equal(s_peek(&fx, fx.log, "r2", 40, &p), 60);
    assert_true(p.first == 41 && p.last == 100);
    /* Someone not on the list reporting 100 changes nothing. */
    s_peek(&fx, fx.log, "stranger", 100, &p);
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, ev_min), 41);

    /* The producer restarts; r2 stays silent: its persisted 40 still
     * holds 41.. back although r1 reports 100 again. */
    cc_evlog_destroy(&fx.log);
    cc_consumer_destroy(&c);
    fx.log = cc_evlog_new(fx.base, fx.zctx, fx.reader, fx.writer, "evt", "tcp://127.0.0.1:*",
                          64);
    assert_int_equal(cc_evlog_prune_set(fx.log, "r1,r2", "evt", 0, 0), 0);
    s_run_for(fx.base, 300);
    c = cc_consumer_new(fx.base, fx.zctx, fx.writer, "r1", "evt", cc_evlog_endpoint(fx.log),
                        s_apply_poison_fn, &app);
    cc_consumer_start(c);
    s_run_for(fx.base, 500);
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, ev_min), 41);

    /* Both at 100: everything goes but the newest, which numbering needs. */
    s_peek(&fx, fx.log, "r2", 100, &p);
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, ev_n), 1);
    assert_int_equal(s_count(pc, ev_max), 100);
    assert_true(cc_metric_value(cc_metrics_gauge("evlog_prune_floor_seq{log=\"evt\"}", "t"))
                == 100.0);

    /* Restarted after pruning: serves on from the newest, numbering goes on. */
    cc_evlog_destroy(&fx.log);
    fx.log = cc_evlog_new(fx.base, fx.zctx, fx.reader, fx.writer, "evt", "tcp://127.0.0.1:*",
                          64);
    assert_int_equal(cc_evlog_prune_set(fx.log, "r1,r2", "evt", 0, 0), 0);
    cc_consumer_destroy(&c);
    c = cc_consumer_new(fx.base, fx.zctx, fx.writer, "r1", "evt", cc_evlog_endpoint(fx.log),
                        s_apply_poison_fn, &app);
    cc_consumer_start(c);
    for (int i = 0; i < 250 && !cc_evlog_ready(fx.log); i++)
        s_run_for(fx.base, 20);
    assert_true(cc_evlog_ready(fx.log));
    assert_int_equal(cc_evlog_head(fx.log), 100);
    s_sql(pc, "SELECT evt.cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x616263') "
              "FROM generate_series(1, 5)");
    for (int i = 0; i < 100 && cc_consumer_position(c) < 105; i++)
        s_run_for(fx.base, 50);
    assert_int_equal(cc_consumer_position(c), 105);
    assert_int_equal(s_count(pc, "SELECT count(*) FROM evt.applied"), 105);
    assert_int_equal(s_peek(&fx, fx.log, "r2", 100, &p), 5);
    assert_true(p.first == 101 && p.last == 105);
    /* Asking for what is gone gets the gap, counted and logged. */
    double past = cc_metric_value(cc_metrics_counter("evlog_fetch_pruned_total{log=\"evt\"}",
                                                     "t"));
    s_peek(&fx, fx.log, "r2", 10, &p);
    assert_int_equal(p.first, 100);
    assert_true(cc_metric_value(cc_metrics_counter("evlog_fetch_pruned_total{log=\"evt\"}",
                                                   "t")) == past + 1);
    s_fx_down(&fx, &c);
}

/* Nothing younger than the retention goes, whoever has passed it; the
 * timer runs passes by itself, and a pass that hits its row limit is
 * followed by the next at once. */
static void test_prune_keeps_retention_and_runs_on_its_timer(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 12000);
    PGconn *pc = fx.pc;
    /* Not listed readers: nobody to wait for. */
    assert_int_equal(cc_evlog_prune_set(fx.log, "", "evt", 3600, 0), 0);
    /* Generous bounds: under ASan on two loaded cores a pass of thousands
     * of rows takes seconds; the loops end as soon as the rows are gone. */
    for (int i = 0; i < 1200 && !cc_evlog_ready(fx.log); i++)
        s_run_for(fx.base, 50);
    s_prune(&fx, fx.log);
    assert_int_equal(s_count(pc, "SELECT count(*) FROM evt.events"), 12000);
    /* Age them all but the last 1000 by two hours. */
    s_sql(pc, "UPDATE evt.events SET time = time - interval '2 hours' WHERE seq <= 11000");
    assert_int_equal(cc_evlog_prune_set(fx.log, "", "evt", 3600, 1), 0);
    for (int i = 0; i < 1200 && s_count(pc, "SELECT min(seq) FROM evt.events") < 11001; i++)
        s_run_for(fx.base, 100);
    /* 11000 rows in passes of at most 5000, the first after one second. */
    assert_int_equal(s_count(pc, "SELECT min(seq) FROM evt.events"), 11001);
    assert_int_equal(s_count(pc, "SELECT count(*) FROM evt.events"), 1000);
    assert_true(cc_metric_value(cc_metrics_counter(
                    "evlog_pruned_total{log=\"evt\",table=\"events\"}", "t")) >= 11000.0);
    cc_consumer_t *none = NULL;
    s_fx_down(&fx, &none);
}

/* Names that are not a party's are refused, as are too many. */
static void test_prune_set_refuses_bad_names(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    s_fx_t fx;
    s_fx_up(&fx, 1);
    assert_int_equal(cc_evlog_prune_set(fx.log, "a\"b", "evt", 0, 0), -1);
    assert_int_equal(cc_evlog_prune_set(fx.log, "a", "x}", 0, 0), -1);
    assert_int_equal(cc_evlog_prune_set(fx.log, "a,b,c,d,e,f,g,h,i", "evt", 0, 0), -1);
    assert_int_equal(cc_evlog_prune_set(fx.log,
                                        "a-name-that-is-much-too-long-for-a-party", "", 0, 0),
                     -1);
    assert_int_equal(cc_evlog_prune_set(fx.log, " a , b ,", "", 0, 0), 0);
    cc_consumer_t *none = NULL;
    s_fx_down(&fx, &none);
}

/* The Nth allocation of cc_consumer_new fails, for N = 0, 1, ... until one
 * needs no more: it must return NULL and leak nothing (ASan, valgrind), or
 * return a whole object only when nothing failed. Needs no database: the
 * db points at a closed port and is never connected. */
static void test_consumer_new_fails_nth_allocation(void **state)
{
    (void) state;
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    const char *ci = "host=127.0.0.1 port=1 connect_timeout=1";
    /* The metrics registry is shared and never shrinks: register every
     * series once, so only the object's own allocations are counted. */
    cc_db_t *r = cc_db_new(base, ci, "alloc");
    cc_consumer_t *c = cc_consumer_new(base, zctx, r, "me", "alloc", "tcp://127.0.0.1:9",
                                       s_nop_consume, NULL);
    assert_true(r && c);
    cc_consumer_destroy(&c);
    cc_db_destroy(&r);
    long n;
    for (n = 0; n < 10000; n++) {
        /* A fresh db: prepares registered by a failed try must not hide
         * the allocations of the next one. */
        cc_db_t *reader = cc_db_new(base, ci, "alloc");
        s_alloc_arm(n);
        cc_consumer_t *obj = cc_consumer_new(base, zctx, reader, "me", "alloc",
                                             "tcp://127.0.0.1:9", s_nop_consume, NULL);
        s_alloc_disarm();
        int failed = s_alloc_failed, got = obj != NULL;
        if (failed && got)
            printf("cc_consumer_new: allocation %ld failed but it returned an object\n", n);
        cc_consumer_destroy(&obj);
        cc_db_destroy(&reader);
        if (!failed) {
            assert_true(got);
            break;
        }
        assert_false(got);
    }
    printf("cc_consumer_new: %ld allocations, each failure handled\n", n);
    assert_true(n > 0 && n < 10000);
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
        cmocka_unit_test(test_consumer_new_fails_nth_allocation),
        cmocka_unit_test_setup(test_consumer_exactly_once_across_restart, s_setup),
        cmocka_unit_test_setup(test_consumer_failed_effect_never_skipped, s_setup),
        cmocka_unit_test_setup(test_consumer_skips_runs_in_order, s_setup),
        cmocka_unit_test_setup(test_consumer_reports_producer_behind, s_setup),
        cmocka_unit_test_setup(test_consumer_no_spin_without_progress, s_setup),
        cmocka_unit_test_setup(test_consumer_takes_late_reply, s_setup),
        cmocka_unit_test_setup(test_consumer_no_fetch_backlog, s_setup),
        cmocka_unit_test_setup(test_consumer_table_rejects_bad_payloads, s_setup),
        cmocka_unit_test_setup(test_consumer_sync_fresh_head, s_setup),
        cmocka_unit_test_setup(test_consumer_sync_seq_timeout_stop, s_setup),
        cmocka_unit_test_setup(test_prune_only_what_every_reader_passed, s_setup),
        cmocka_unit_test_setup(test_prune_keeps_retention_and_runs_on_its_timer, s_setup),
        cmocka_unit_test_setup(test_prune_set_refuses_bad_names, s_setup),
    };
    int rc = cmocka_run_group_tests_name("cc_consumer", tests, NULL, NULL);
    cc_metrics_reset();
    return rc;
}
