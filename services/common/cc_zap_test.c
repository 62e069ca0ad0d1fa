/* Tests for cc_zap and CURVE on cc_zsock, with real sockets over
 * tcp://127.0.0.1:*: a listed client is served; an unlisted key, a client
 * without CURVE and a client that meets a fake server (wrong server key)
 * get nothing and are counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include <event2/event.h>

#include "cc_curve.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zap.h"
#include "cc_zsock.h"

typedef struct {
    struct event_base *base;
    void *zctx;
    cc_zap_t *zap;
    FILE *log;
    cc_curve_pair_t server, client, stranger;
} s_fx_t;

typedef struct {
    int got;            /* messages received */
    char last[64];      /* last first frame (client) / routed payload (server) */
    char user[64];      /* server: the sender's User-Id (cc_zsock_user_id) */
} s_box_t;

/* Server: echo the payload back to the sender. */
static void s_echo(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                   void *arg)
{
    s_box_t *box = arg;
    box->got++;
    const char *u = cc_zsock_user_id(sock);
    snprintf(box->user, sizeof box->user, "%s", u ? u : "(none)");
    if (n == 2)
        cc_zsock_sendv(sock, frames, lens, 2);
}

static void s_collect(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                      void *arg)
{
    (void) sock;
    s_box_t *box = arg;
    box->got++;
    if (n >= 1 && lens[0] < sizeof box->last) {
        memcpy(box->last, frames[0], lens[0]);
        box->last[lens[0]] = '\0';
    }
}

/* Run the loop until *flag becomes nonzero or ms pass; returns *flag. */
static int s_spin(s_fx_t *fx, const int *flag, int ms)
{
    int64_t end = cc_mono_us() + (int64_t) ms * 1000;
    while (!*flag && cc_mono_us() < end) {
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return *flag;
}

static double s_metric(const char *name)
{
    return cc_metric_value(cc_metrics_counter(name, "x"));
}

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    fx->log = tmpfile();
    cc_log_set_stream(fx->log);
    cc_log_init("test", "debug");
    fx->base = event_base_new();
    fx->zctx = zmq_ctx_new();
    fx->zap = cc_zap_new(fx->base, fx->zctx);
    zmq_curve_keypair(fx->server.public_key, fx->server.secret_key);
    zmq_curve_keypair(fx->client.public_key, fx->client.secret_key);
    zmq_curve_keypair(fx->stranger.public_key, fx->stranger.secret_key);
    *state = fx;
    return fx->zap ? 0 : -1;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    cc_zap_destroy(&fx->zap);
    zmq_ctx_term(fx->zctx);
    event_base_free(fx->base);
    cc_metrics_reset();
    cc_log_set_stream(NULL);
    fclose(fx->log);
    free(fx);
    return 0;
}

/* A CURVE ROUTER named "srv" admitting fx->client only. */
static cc_zsock_t *s_server(s_fx_t *fx, s_box_t *box)
{
    assert_int_equal(cc_zap_allow(fx->zap, "srv", "client", fx->client.public_key), 0);
    cc_zsock_t *srv = cc_zsock_new(fx->base, fx->zctx, ZMQ_ROUTER, 4096, "srv", s_echo, box);
    assert_non_null(srv);
    assert_int_equal(cc_zsock_curve_server(srv, fx->server.secret_key), 0);
    assert_int_equal(cc_zsock_bind(srv, "tcp://127.0.0.1:*"), 0);
    return srv;
}

static cc_zsock_t *s_client(s_fx_t *fx, const char *name, const cc_curve_pair_t *me,
                            const char *server_key, const char *endpoint, s_box_t *box)
{
    cc_zsock_t *c = cc_zsock_new(fx->base, fx->zctx, ZMQ_DEALER, 4096, name, s_collect, box);
    assert_non_null(c);
    if (me)
        assert_int_equal(cc_zsock_curve_client(c, me->public_key, me->secret_key, server_key),
                         0);
    assert_int_equal(cc_zsock_connect(c, endpoint), 0);
    return c;
}

static void s_send(cc_zsock_t *c, const char *text)
{
    const void *f[1] = { text };
    size_t l[1] = { strlen(text) };
    cc_zsock_sendv(c, f, l, 1);
}

static void test_listed_client_is_served(void **state)
{
    s_fx_t *fx = *state;
    s_box_t sbox = { 0 }, cbox = { 0 };
    cc_zsock_t *srv = s_server(fx, &sbox);
    cc_zsock_t *c = s_client(fx, "good", &fx->client, fx->server.public_key,
                             cc_zsock_endpoint(srv), &cbox);
    s_send(c, "ping");
    assert_true(s_spin(fx, &cbox.got, 5000));
    assert_string_equal(cbox.last, "ping");
    assert_int_equal(sbox.got, 1);
    /* The server knows who sent it: the name its key is listed under (the
     * event log tells its readers apart by this). Only during the call. */
    assert_string_equal(sbox.user, "client");
    assert_null(cc_zsock_user_id(srv));
    assert_true(s_metric("zmq_auth_accepted_total{socket=\"srv\"}") >= 1);
    assert_true(s_metric("zmq_auth_rejected_total{socket=\"srv\",reason=\"key\"}") == 0);
    assert_true(cc_zsock_handshake_failures(srv) == 0);
    cc_zsock_destroy(&c);
    cc_zsock_destroy(&srv);
}

static void test_unlisted_key_gets_nothing(void **state)
{
    s_fx_t *fx = *state;
    s_box_t sbox = { 0 }, cbox = { 0 };
    cc_zsock_t *srv = s_server(fx, &sbox);
    cc_zsock_t *c = s_client(fx, "stranger", &fx->stranger, fx->server.public_key,
                             cc_zsock_endpoint(srv), &cbox);
    s_send(c, "ping");
    int rejected = 0;
    int64_t end = cc_mono_us() + 5000000;
    while (!rejected && cc_mono_us() < end) {
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        rejected = s_metric("zmq_auth_rejected_total{socket=\"srv\",reason=\"key\"}") >= 1;
        usleep(1000);
    }
    assert_true(rejected);
    s_spin(fx, &sbox.got, 300);
    assert_int_equal(sbox.got, 0);
    assert_int_equal(cbox.got, 0);
    /* The log names the socket and a fingerprint, never the key. */
    fflush(fx->log);
    rewind(fx->log);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, fx->log);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"zmq_auth_rejected\""));
    assert_null(strstr(buf, fx->stranger.public_key));
    assert_null(strstr(buf, fx->stranger.secret_key));
    cc_zsock_destroy(&c);
    cc_zsock_destroy(&srv);
}

static void test_no_curve_gets_nothing(void **state)
{
    s_fx_t *fx = *state;
    s_box_t sbox = { 0 }, cbox = { 0 };
    cc_zsock_t *srv = s_server(fx, &sbox);
    cc_zsock_t *c = s_client(fx, "plain", NULL, NULL, cc_zsock_endpoint(srv), &cbox);
    s_send(c, "ping");
    int64_t end = cc_mono_us() + 5000000;
    while (cc_zsock_handshake_failures(srv) < 1 && cc_mono_us() < end) {
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_true(s_metric("zmq_auth_rejected_total{socket=\"srv\",reason=\"handshake\"}") >= 1);
    s_spin(fx, &sbox.got, 300);
    assert_int_equal(sbox.got, 0);
    assert_int_equal(cbox.got, 0);
    cc_zsock_destroy(&c);
    cc_zsock_destroy(&srv);
}

/* A fake server bound with a fresh pair (it lacks the real server's
 * secret key): the client's handshake fails and nothing is delivered. */
static void test_fake_server_is_refused(void **state)
{
    s_fx_t *fx = *state;
    s_box_t fbox = { 0 }, cbox = { 0 };
    cc_curve_pair_t fake;
    zmq_curve_keypair(fake.public_key, fake.secret_key);
    assert_int_equal(cc_zap_allow(fx->zap, "fake", "client", fx->client.public_key), 0);
    cc_zsock_t *srv = cc_zsock_new(fx->base, fx->zctx, ZMQ_ROUTER, 4096, "fake", s_echo, &fbox);
    assert_int_equal(cc_zsock_curve_server(srv, fake.secret_key), 0);
    assert_int_equal(cc_zsock_bind(srv, "tcp://127.0.0.1:*"), 0);
    cc_zsock_t *c = s_client(fx, "victim", &fx->client, fx->server.public_key,
                             cc_zsock_endpoint(srv), &cbox);
    s_send(c, "ping");
    int64_t end = cc_mono_us() + 5000000;
    while (cc_zsock_handshake_failures(c) < 1 && cc_mono_us() < end) {
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_true(s_metric("zmq_auth_rejected_total{socket=\"victim\",reason=\"handshake\"}")
                >= 1);
    s_spin(fx, &cbox.got, 300);
    assert_int_equal(fbox.got, 0);
    assert_int_equal(cbox.got, 0);
    cc_zsock_destroy(&c);
    cc_zsock_destroy(&srv);
}

/* A server socket whose domain has no allow-list admits nobody. */
static void test_undeclared_domain_admits_nobody(void **state)
{
    s_fx_t *fx = *state;
    s_box_t sbox = { 0 }, cbox = { 0 };
    cc_zsock_t *srv = cc_zsock_new(fx->base, fx->zctx, ZMQ_ROUTER, 4096, "nolist", s_echo,
                                   &sbox);
    assert_int_equal(cc_zsock_curve_server(srv, fx->server.secret_key), 0);
    assert_int_equal(cc_zsock_bind(srv, "tcp://127.0.0.1:*"), 0);
    cc_zsock_t *c = s_client(fx, "any", &fx->client, fx->server.public_key,
                             cc_zsock_endpoint(srv), &cbox);
    s_send(c, "ping");
    int64_t end = cc_mono_us() + 5000000;
    while (s_metric("zmq_auth_rejected_total{socket=\"unknown\",reason=\"request\"}") < 1
           && cc_mono_us() < end) {
        event_base_loop(fx->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_true(s_metric("zmq_auth_rejected_total{socket=\"unknown\",reason=\"request\"}") >= 1);
    s_spin(fx, &sbox.got, 200);
    assert_int_equal(sbox.got, 0);
    cc_zsock_destroy(&c);
    cc_zsock_destroy(&srv);
}

/* The handler itself: a malformed request gets a 400 (never a crash). */
static void test_malformed_request(void **state)
{
    s_fx_t *fx = *state;
    s_box_t box = { 0 };
    cc_zsock_t *req = cc_zsock_new(fx->base, fx->zctx, ZMQ_REQ, 4096, "req", s_collect, &box);
    assert_int_equal(cc_zsock_connect(req, CC_ZAP_ENDPOINT), 0);
    const void *f[7] = { "2.0", "1", "srv", "127.0.0.1", "", "CURVE", "short" };
    size_t l[7] = { 3, 1, 3, 9, 0, 5, 5 };
    assert_int_equal(cc_zsock_sendv(req, f, l, 7), 0);
    assert_true(s_spin(fx, &box.got, 2000));
    assert_string_equal(box.last, "1.0");
    cc_zsock_destroy(&req);
    /* A second ZAP handler in the same context cannot bind. */
    cc_zap_t *two = cc_zap_new(fx->base, fx->zctx);
    assert_null(two);
}

static void test_allow_names(void **state)
{
    s_fx_t *fx = *state;
    char dir[] = "/tmp/cc-zap-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], why[256];
    snprintf(path, sizeof path, "%s/billingd.pub", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n", fx->client.public_key);
    fclose(f);
    assert_int_equal(cc_zap_allow_names(fx->zap, "d1", dir, "billingd", why, sizeof why), 0);
    assert_int_equal(cc_zap_allowed(fx->zap, "d1"), 1);
    assert_int_equal(cc_zap_allow_names(fx->zap, "d2", dir, "", why, sizeof why), 0);
    assert_int_equal(cc_zap_allowed(fx->zap, "d2"), 0);
    assert_int_equal(cc_zap_allow_names(fx->zap, "d3", dir, "billingd,meald", why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "meald.pub"));
    assert_int_equal(cc_zap_allow_names(fx->zap, "d4", dir, "../x", why, sizeof why), -1);
    assert_int_equal(cc_zap_allow(fx->zap, "d5", "x", "not a key"), -1);
    assert_int_equal(cc_zap_domain(fx->zap, "bad\"name"), -1);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listed_client_is_served, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_key_gets_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_curve_gets_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fake_server_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_undeclared_domain_admits_nobody, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_allow_names, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
