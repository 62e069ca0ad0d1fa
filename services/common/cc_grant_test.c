/* Tests for cc_grant (the table) and for what a filtered event log serves
 * (cc_evlog_filter) and a consumer makes of it: real PostgreSQL (CC_TEST_DB,
 * as cc_evlog_test.c), real CURVE sockets and the real ZAP handler, so the
 * reader is the one its key proves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <libpq-fe.h>
#include <event2/event.h>

#include "cc_event.h"
#include "cc_evlog.h"
#include "cc_grant.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zap.h"

#include "cc_test_pg.h"

/* ------------------------------------------------------------ the table */

/* Every granted type is an event with a schema, no row is granted twice,
 * a log never reads itself, and billingd, which prices by household and
 * age, is granted no release (issue 10: "billingd needs none"). */
static void test_grants_name_events(void **state)
{
    (void) state;
    size_t n;
    const cc_event_schema_t *all = cc_event_schemas(&n);
    int rows = 0;
    for (const cc_grant_t *g = cc_grants; g->log; g++, rows++) {
        assert_string_not_equal(g->log, g->reader);
        assert_ptr_equal(cc_grant_find(cc_grants, g->log, g->reader), g);
        for (const char *const *t = g->types; *t; t++) {
            int found = 0;
            for (size_t i = 0; i < n; i++)
                found += strcmp(all[i].desc->short_name, *t) == 0;
            if (found != 1)
                printf("%s -> %s: %s is no event\n", g->log, g->reader, *t);
            assert_int_equal(found, 1);
        }
    }
    assert_int_equal(rows, 8);
    const cc_grant_t *b = cc_grant_find(cc_grants, "orderd", "billingd");
    assert_non_null(b);
    assert_true(cc_grant_allows(b, "OrderPlaced"));
    for (const char *const *t = b->types; *t; t++)
        assert_null(strstr(*t, "Released"));
    /* Each release to its one reader. */
    const cc_grant_t *d = cc_grant_find(cc_grants, "orderd", "dispatchd");
    const cc_grant_t *m = cc_grant_find(cc_grants, "orderd", "meald");
    assert_true(cc_grant_allows(d, "VisitReleased") && !cc_grant_allows(d, "MealReleased"));
    assert_true(cc_grant_allows(m, "MealReleased") && !cc_grant_allows(m, "VisitReleased"));
    /* Nobody: no row, nothing allowed. */
    assert_null(cc_grant_find(cc_grants, "orderd", "telephony"));
    assert_null(cc_grant_find(cc_grants, "orderd", NULL));
    assert_false(cc_grant_allows(NULL, "OrderPlaced"));
}

/* -------------------------------------------------- a filtered log */

static void s_run_for(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static cc_db_t *s_db(struct event_base *base, const char *stmt, const char *sql)
{
    cc_db_t *db = cc_db_new(base, s_conninfo, "test");
    assert_non_null(db);
    if (stmt)
        assert_int_equal(cc_db_prepare(db, stmt, sql), 0);
    for (int i = 0; i < 100 && !cc_db_connected(db); i++)
        s_run_for(base, 50);
    assert_true(cc_db_connected(db));
    return db;
}

/* The test log "evt": alice may read Tick, bob has no row. */
static const char *const s_alice_types[] = { "Tick", NULL };
static const cc_grant_t s_grants[] = {
    { "evt", "alice", s_alice_types },
    { NULL, NULL, NULL },
};

typedef struct {
    uint64_t seq[64];
    char type[64][16];
    int canary[64];            /* its bytes hold the secret payload */
    size_t n;
} s_got_t;

/* Fetch after `after` on sock while the loop runs (with pc, append 40
 * events once the Fetch is parked); the reply's events into got. */
static void s_append(PGconn *pc);
static void s_fetch(struct event_base *base, void *sock, uint64_t after, uint32_t wait_ms,
                    PGconn *pc, s_got_t *got)
{
    Cc__Fetch f = CC__FETCH__INIT;
    f.after_seq = after;
    f.max_events = 64;
    f.wait_ms = wait_ms;
    size_t ilen, len;
    uint8_t *inner = cc_pb_pack(&f.base, &ilen);
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Fetch";
    env.id = "1";
    env.payload.data = inner;
    env.payload.len = ilen;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    assert_int_equal(zmq_send(sock, out, len, 0), (int) len);
    free(inner);
    free(out);
    if (pc) {
        s_run_for(base, 200);   /* parked: nothing after `after` yet */
        s_append(pc);
    }
    static uint8_t buf[1 << 20];
    int r = -1;
    for (int i = 0; i < 100 && r < 0; i++) {
        s_run_for(base, 50);
        r = zmq_recv(sock, buf, sizeof buf, ZMQ_DONTWAIT);
    }
    assert_true(r > 0);
    Cc__Envelope *reply = cc__envelope__unpack(NULL, (size_t) r, buf);
    assert_non_null(reply);
    Cc__Events *evs = cc__events__unpack(NULL, reply->payload.len, reply->payload.data);
    assert_non_null(evs);
    memset(got, 0, sizeof *got);
    for (size_t i = 0; i < evs->n_events && got->n < 64; i++) {
        Cc__Envelope *e = cc__envelope__unpack(NULL, evs->events[i].len, evs->events[i].data);
        assert_non_null(e);
        assert_true(cc_uuid_valid(e->id));
        got->seq[got->n] = e->seq;
        snprintf(got->type[got->n], sizeof got->type[0], "%s", e->type);
        got->canary[got->n] = memmem(evs->events[i].data, evs->events[i].len, "canary", 6)
                              != NULL;
        if (strcmp(e->type, CC_EVLOG_WITHHELD) == 0)   /* a place, nothing of the event */
            assert_true(e->payload.len == 0 && e->key[0] == 0 && e->district_id == 0);
        got->n++;
        cc__envelope__free_unpacked(e, NULL);
    }
    cc__events__free_unpacked(evs, NULL);
    cc__envelope__free_unpacked(reply, NULL);
}

static void *s_client(void *zctx, const char *server_pub, const char pub[41], const char sec[41],
                      const char *endpoint)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 40), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
    assert_int_equal(zmq_connect(s, endpoint), 0);
    return s;
}

/* 40 events after `from`: odd ones Tick, even ones Secret (payload
 * "canary"), so every reply mixes both. */
static void s_append(PGconn *pc)
{
    s_sql(pc, "SELECT cc_append(CASE WHEN g % 2 = 1 THEN 'Tick' ELSE 'Secret' END, "
              "gen_random_uuid(), 'k', 3, CASE WHEN g % 2 = 1 THEN '\\x616263'::bytea "
              "ELSE convert_to('canary', 'UTF8') END) FROM generate_series(1, 40) g");
}

/* alice gets Tick whole and Secret as markers, bob markers only; each
 * sees every seq in order, whichever way a reply is made: a parked long
 * poll woken by new events, a fresh read (wait 0) beyond the ring of 16
 * (from the table) and a long poll within it (from memory). The control
 * without the filter shows the check finds the secret when it is served. */
static void test_filtered_log_serves_only_grants(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_zap_t *zap = cc_zap_new(base, zctx);
    char spub[41], ssec[41], apub[41], asec[41], bpub[41], bsec[41];
    zmq_curve_keypair(spub, ssec);
    zmq_curve_keypair(apub, asec);
    zmq_curve_keypair(bpub, bsec);
    assert_int_equal(cc_zap_domain(zap, "evt-log"), 0);
    assert_int_equal(cc_zap_allow(zap, "evt-log", "alice", apub), 0);
    assert_int_equal(cc_zap_allow(zap, "evt-log", "bob", bpub), 0);
    cc_db_t *reader = s_db(base, NULL, NULL);
    cc_evlog_t *log = cc_evlog_new_curve(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*",
                                         16, ssec);
    assert_non_null(log);
    cc_evlog_filter(log, s_grants);
    s_run_for(base, 300);
    PGconn *pc = s_connect();
    double w0 = cc_metric_value(cc_metrics_counter(
        "evlog_events_withheld_total{log=\"evt\",reader=\"alice\"}", "t"));
    void *alice = s_client(zctx, spub, apub, asec, cc_evlog_endpoint(log));
    void *bob = s_client(zctx, spub, bpub, bsec, cc_evlog_endpoint(log));
    s_got_t a, b;
    s_fetch(base, alice, 0, 3000, pc, &a);    /* parked, then woken by 40 events */
    assert_int_equal(cc_evlog_head(log), 40);
    assert_true(a.n > 0);
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.seq[i], i + 1);
        assert_string_equal(a.type[i], (i + 1) % 2 ? "Tick" : CC_EVLOG_WITHHELD);
        assert_false(a.canary[i]);
    }
    double w1 = cc_metric_value(cc_metrics_counter(
        "evlog_events_withheld_total{log=\"evt\",reader=\"alice\"}", "t"));
    assert_int_equal(w1 - w0, a.n / 2);
    static const uint64_t from[2] = { 0, 30 };   /* the table, then the ring */
    static const uint32_t wait[2] = { 0, 1000 }; /* a fresh read, then a long poll */
    for (int k = 0; k < 2; k++) {
        s_fetch(base, alice, from[k], wait[k], NULL, &a);
        s_fetch(base, bob, from[k], wait[k], NULL, &b);
        assert_int_equal(a.n, 40 - from[k]);
        assert_int_equal(b.n, 40 - from[k]);
        for (size_t i = 0; i < a.n; i++) {
            uint64_t seq = from[k] + 1 + i;
            assert_int_equal(a.seq[i], seq);
            assert_int_equal(b.seq[i], seq);
            assert_string_equal(a.type[i], seq % 2 ? "Tick" : CC_EVLOG_WITHHELD);
            assert_string_equal(b.type[i], CC_EVLOG_WITHHELD);
            assert_false(a.canary[i] || b.canary[i]);
        }
    }
    assert_int_equal(cc_metric_value(cc_metrics_counter(
        "evlog_events_withheld_total{log=\"evt\",reader=\"alice\"}", "t")) - w1, 20 + 5);

    /* The control: unfiltered, the same check sees the secret. */
    cc_evlog_filter(log, NULL);
    s_fetch(base, bob, 30, 1000, NULL, &b);
    assert_int_equal(b.n, 10);
    assert_string_equal(b.type[1], "Secret");
    assert_true(b.canary[1]);

    zmq_close(alice);
    zmq_close(bob);
    PQfinish(pc);
    cc_evlog_destroy(&log);
    cc_db_destroy(&reader);
    cc_zap_destroy(&zap);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

/* ------------------------------------------- a consumer and its markers */

static int s_handled;

static int s_apply(cc_consumer_t *c, const Cc__Envelope *env, void *arg)
{
    (void) arg;
    s_handled++;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    const char *v[3] = { "evt", seq, env->id };
    return cc_consumer_exec(c, "t_apply", 3, v, NULL, NULL, NULL, NULL);
}

/* A consumer served markers only (a plaintext reader has no User-Id, so no
 * grant) never sees a gap: it reaches the head, records the markers as
 * skipped (the stored position is the head) and hands none to the daemon. */
static void test_consumer_skips_withheld(void **state)
{
    (void) state;
    SKIP_WITHOUT_DB();
    struct event_base *base = event_base_new();
    void *zctx = zmq_ctx_new();
    cc_db_t *reader = s_db(base, NULL, NULL);
    cc_db_t *writer = s_db(base, "t_apply", "SELECT t_apply($1, $2::bigint, $3::uuid)");
    cc_evlog_t *log = cc_evlog_new(base, zctx, reader, NULL, "evt", "tcp://127.0.0.1:*", 16);
    assert_non_null(log);
    cc_evlog_filter(log, s_grants);
    PGconn *pc = s_connect();
    s_append(pc);
    s_run_for(base, 300);
    s_handled = 0;
    cc_consumer_t *c = cc_consumer_new(base, zctx, writer, "carol", "evt",
                                       cc_evlog_endpoint(log), s_apply, NULL);
    assert_non_null(c);
    assert_int_equal(cc_consumer_start(c), 0);
    for (int i = 0; i < 100 && cc_consumer_position(c) < 40; i++)
        s_run_for(base, 50);
    assert_int_equal(cc_consumer_position(c), 40);
    assert_int_equal(s_handled, 0);
    assert_int_equal(s_scalar(pc, "SELECT cc_position('evt')"), 40);
    assert_int_equal(s_scalar(pc, "SELECT count(*) FROM applied"), 0);
    assert_int_equal(cc_metric_value(cc_metrics_counter(
        "consumer_events_withheld_total{consumer=\"carol\",log=\"evt\"}", "t")), 40);
    cc_consumer_destroy(&c);
    PQfinish(pc);
    cc_evlog_destroy(&log);
    cc_db_destroy(&writer);
    cc_db_destroy(&reader);
    zmq_ctx_term(zctx);
    event_base_free(base);
}

int main(void)
{
    /* The shared fixture's allocator: pass-through here (never armed). */
    event_set_mem_functions(s_ev_malloc, s_ev_realloc, free);
    (void) s_alloc_arm;
    (void) s_alloc_disarm;
    cc_log_init("test", "error");
    const char *db = getenv("CC_TEST_DB");
    if (db && *db) {
        snprintf(s_conninfo, sizeof s_conninfo, "%s options=-csearch_path=evt", db);
        s_have_db = 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grants_name_events),
        cmocka_unit_test_setup(test_filtered_log_serves_only_grants, s_setup),
        cmocka_unit_test_setup(test_consumer_skips_withheld, s_setup),
    };
    int rc = cmocka_run_group_tests_name("cc_grant", tests, NULL, NULL);
    cc_metrics_reset();
    return rc;
}
