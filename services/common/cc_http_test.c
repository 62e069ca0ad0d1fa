/* Tests for cc_http: a server on a free port and raw-socket clients in the
 * same event loop. Covers routing, params, query decoding, errors, JSON
 * bodies, builtins, drain, deferred replies and clients that vanish. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cc_http.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_revoke.h"

#define MAX_BODY 1024

static struct event_base *s_base;
static cc_http_t *s_http;
static cc_http_req_t *s_held;      /* a deferred request */
static int s_ready = 1;
static FILE *s_log;

/* ---- handlers ------------------------------------------------------- */

static void
h_get_order(cc_http_req_t *req, void *arg)
{
    (void) arg;
    const char *q = cc_http_query(req, "q");
    const char *x = cc_http_query(req, "x");
    const char *ua = cc_http_header(req, "x-test-header");
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "id", cc_http_path_param(req, "id"),
                          "q", q, "x", x, "hdr", ua, "method", cc_http_method(req));
    cc_http_reply_json(&req, 200, o);
    assert_null(req);
}

static void
h_stats(cc_http_req_t *req, void *arg)
{
    (void) arg;
    cc_http_reply_text(&req, 200, "text/plain", "stats");
}

static void
h_post_order(cc_http_req_t *req, void *arg)
{
    (void) arg;
    json_t *body = cc_http_json_body(req);
    if (!body)
        return;     /* answered 400 */
    cc_err_t err;
    const char *elder = NULL;
    if (cc_json_str(body, "elder_id", 1, 64, &elder, &err) != 0) {
        json_decref(body);
        cc_http_reply_err(&req, &err);
        return;
    }
    cc_http_reply_json(&req, 201, json_pack("{s:s}", "elder_id", elder));
    json_decref(body);
}

static void
h_cancel_deferred(cc_http_req_t *req, void *arg)
{
    (void) arg;
    s_held = req;           /* answered later, as after a DB commit */
    event_base_loopbreak(s_base);
}

static void
h_two_params(cc_http_req_t *req, void *arg)
{
    (void) arg;
    size_t len = 99;
    const char *body = cc_http_body(req, &len);
    json_t *o = json_pack("{s:s, s:s, s:I}", "a", cc_http_path_param(req, "a"), "b",
                          cc_http_path_param(req, "b"), "len", (json_int_t) len);
    assert_non_null(body);
    assert_null(cc_http_path_param(req, "c"));
    cc_http_reply_json(&req, 200, o);
}

static int
s_ready_fn(void *arg)
{
    (void) arg;
    return s_ready;
}

/* ---- a raw client on the same loop ---------------------------------- */

typedef struct {
    struct bufferevent *bev;
    struct evbuffer *got;       /* whole response */
    int done;                   /* EOF or error */
} s_client_t;

static void
s_client_read(struct bufferevent *bev, void *arg)
{
    s_client_t *c = arg;
    evbuffer_add_buffer(c->got, bufferevent_get_input(bev));
}

static void
s_client_event(struct bufferevent *bev, short what, void *arg)
{
    s_client_t *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        evbuffer_add_buffer(c->got, bufferevent_get_input(bev));
        c->done = 1;
        event_base_loopbreak(s_base);
    }
}

static s_client_t *
s_client_send(const char *raw, size_t len)
{
    s_client_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->got = evbuffer_new();
    c->bev = bufferevent_socket_new(s_base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, s_client_read, NULL, s_client_event, c);
    bufferevent_enable(c->bev, EV_READ);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)
                                                                        cc_http_port(s_http)) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bufferevent_socket_connect(c->bev, (struct sockaddr *) &sin, sizeof sin),
                     0);
    bufferevent_write(c->bev, raw, len);
    return c;
}

static void
s_client_free(s_client_t *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    evbuffer_free(c->got);
    free(c);
}

/* Run the loop for at most ms milliseconds (or until a loopbreak). */
static void
s_run(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(s_base, &tv);
    event_base_dispatch(s_base);
}

typedef struct {
    int status;
    char *head;     /* status line + headers */
    char *body;
} s_resp_t;

static void
s_resp_free(s_resp_t *r)
{
    free(r->head);
    free(r->body);
}

/* Send raw, wait for the server to close, split the response. */
static s_resp_t
s_exchange(const char *raw, size_t len)
{
    s_client_t *c = s_client_send(raw, len);
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    assert_true(c->done);
    size_t n = evbuffer_get_length(c->got);
    char *text = calloc(1, n + 1);
    assert_non_null(text);
    evbuffer_remove(c->got, text, n);
    s_client_free(c);
    s_resp_t r = { 0, NULL, NULL };
    char *sep = strstr(text, "\r\n\r\n");
    if (!sep)
        fail_msg("no response: \"%s\"", text);
    *sep = '\0';
    r.head = strdup(text);
    r.body = strdup(sep + 4);
    assert_int_equal(sscanf(text, "HTTP/1.%*d %d", &r.status), 1);
    free(text);
    return r;
}

static s_resp_t
s_get(const char *method, const char *target, const char *extra_headers, const char *body)
{
    char raw[8192];
    /* Writes are JSON unless the test says otherwise (table routes: 415). */
    int json = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0
               && !(extra_headers && strcasestr(extra_headers, "Content-Type:"));
    int n = snprintf(raw, sizeof raw,
                     "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, target, json ? "Content-Type: application/json\r\n" : "",
                     extra_headers ? extra_headers : "",
                     body ? strlen(body) : 0, body ? body : "");
    assert_true(n > 0 && (size_t) n < sizeof raw);
    return s_exchange(raw, (size_t) n);
}

static json_t *
s_json(const s_resp_t *r)
{
    json_error_t jerr;
    json_t *o = json_loads(r->body, 0, &jerr);
    if (!o)
        fail_msg("body is not JSON: \"%s\"", r->body);
    return o;
}

static const char *
s_field(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

static void
s_assert_error(const s_resp_t *r, int status, const char *error)
{
    assert_int_equal(r->status, status);
    assert_non_null(strcasestr(r->head, "Content-Type: application/json"));
    json_t *o = s_json(r);
    assert_string_equal(s_field(o, "error"), error);
    assert_non_null(s_field(o, "message"));
    assert_true(json_object_get(o, "field") != NULL);
    json_decref(o);
}

static double
s_metric(const char *name)
{
    return cc_metric_value(cc_metrics_counter(name, "x"));
}

/* ---- fixtures ------------------------------------------------------- */

static int
s_setup(void **state)
{
    (void) state;
    s_log = tmpfile();
    cc_log_set_stream(s_log);
    s_base = event_base_new();
    assert_non_null(s_base);
    s_http = cc_http_new(s_base, "127.0.0.1", 0, MAX_BODY);
    assert_non_null(s_http);
    assert_true(cc_http_port(s_http) > 0);
    assert_int_equal(cc_http_route(s_http, "GET", "/v1/orders/{id}", h_get_order, NULL), 0);
    assert_int_equal(cc_http_route(s_http, "GET", "/v1/orders/stats", h_stats, NULL), 0);
    assert_int_equal(cc_http_route(s_http, "POST", "/v1/orders", h_post_order, NULL), 0);
    assert_int_equal(cc_http_route(s_http, "POST", "/v1/orders/{id}/cancel",
                                   h_cancel_deferred, NULL), 0);
    assert_int_equal(cc_http_route(s_http, "PUT", "/v1/x/{a}/y/{b}", h_two_params, NULL), 0);
    s_ready = 1;
    s_held = NULL;
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_http_destroy(&s_http);
    assert_null(s_http);
    cc_http_destroy(&s_http);   /* NULL is fine */
    event_base_free(s_base);
    cc_metrics_reset();
    cc_log_set_stream(NULL);
    fclose(s_log);
    return 0;
}

/* ---- tests ---------------------------------------------------------- */

static void
test_routing_params_query(void **state)
{
    (void) state;
    s_resp_t r = s_get("GET", "/v1/orders/o%2D1?q=a%20b+c&x&empty=", "X-Test-Header: hi\r\n",
                       NULL);
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "id"), "o-1");
    assert_string_equal(s_field(o, "q"), "a b c");
    assert_string_equal(s_field(o, "x"), "");
    assert_string_equal(s_field(o, "hdr"), "hi");
    assert_string_equal(s_field(o, "method"), "GET");
    json_decref(o);
    s_resp_free(&r);

    /* A literal segment beats a capture whatever the order of routes. */
    r = s_get("GET", "/v1/orders/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "stats");
    assert_non_null(strcasestr(r.head, "Content-Type: text/plain"));
    s_resp_free(&r);

    r = s_get("PUT", "/v1/x/1/y/%E4%B8%AD", NULL, "abc");
    assert_int_equal(r.status, 200);
    o = s_json(&r);
    assert_string_equal(s_field(o, "a"), "1");
    assert_string_equal(s_field(o, "b"), "\xe4\xb8\xad");
    assert_int_equal(json_integer_value(json_object_get(o, "len")), 3);
    json_decref(o);
    s_resp_free(&r);

    /* No query at all. */
    r = s_get("GET", "/v1/orders/abc", NULL, NULL);
    o = s_json(&r);
    assert_true(json_is_null(json_object_get(o, "q")));
    json_decref(o);
    s_resp_free(&r);
    assert_true(s_metric("http_requests_total{code=\"200\"}") == 4);
}

static void
test_not_found_and_method(void **state)
{
    (void) state;
    const char *missing[] = { "/nope", "/v1/orders/a/b", "/v1/orders/", "/v1//orders",
                              "/v1/orders/a/cancel/x", "/healthz/" };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        s_resp_t r = s_get("GET", missing[i], NULL, NULL);
        s_assert_error(&r, 404, "not_found");
        s_resp_free(&r);
    }
    s_resp_t r = s_get("DELETE", "/v1/orders/o1", NULL, NULL);
    s_assert_error(&r, 405, "method_not_allowed");
    assert_non_null(strcasestr(r.head, "Allow: GET"));
    s_resp_free(&r);
    r = s_get("GET", "/v1/orders/o1/cancel", NULL, NULL);
    s_assert_error(&r, 405, "method_not_allowed");
    assert_non_null(strcasestr(r.head, "Allow: POST"));
    s_resp_free(&r);
    r = s_get("POST", "/healthz", NULL, "{}");
    s_assert_error(&r, 405, "method_not_allowed");
    s_resp_free(&r);
    /* A capture that decodes to NUL is refused. */
    r = s_get("GET", "/v1/orders/a%00b", NULL, NULL);
    s_assert_error(&r, 400, "invalid_path");
    s_resp_free(&r);
    assert_true(s_metric("http_requests_total{code=\"404\"}") == 6);
    assert_true(s_metric("http_requests_total{code=\"405\"}") == 3);
}

static void
test_json_bodies(void **state)
{
    (void) state;
    s_resp_t r = s_get("POST", "/v1/orders", "Content-Type: application/json\r\n",
                       "{\"elder_id\":\"e-1\"}");
    assert_int_equal(r.status, 201);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "elder_id"), "e-1");
    json_decref(o);
    s_resp_free(&r);

    r = s_get("POST", "/v1/orders", NULL, "{\"elder_id\":");
    s_assert_error(&r, 400, "invalid_json");
    o = s_json(&r);
    assert_non_null(strstr(s_field(o, "message"), "line 1"));
    json_decref(o);
    s_resp_free(&r);

    r = s_get("POST", "/v1/orders", NULL, "{\"a\":1,\"a\":2}");
    s_assert_error(&r, 400, "invalid_json");
    s_resp_free(&r);

    r = s_get("POST", "/v1/orders", NULL, "[1]");
    s_assert_error(&r, 400, "not_an_object");
    s_resp_free(&r);

    r = s_get("POST", "/v1/orders", NULL, "");
    s_assert_error(&r, 400, "invalid_json");
    s_resp_free(&r);

    r = s_get("POST", "/v1/orders", NULL, "{\"elder_id\":5}");
    s_assert_error(&r, 400, "wrong_type");
    o = s_json(&r);
    assert_string_equal(s_field(o, "field"), "elder_id");
    json_decref(o);
    s_resp_free(&r);
}

static void
test_body_too_large(void **state)
{
    (void) state;
    char *big = malloc(MAX_BODY + 2);
    assert_non_null(big);
    memset(big, 'x', MAX_BODY + 1);
    big[MAX_BODY + 1] = '\0';
    s_resp_t r = s_get("POST", "/v1/orders", NULL, big);
    s_assert_error(&r, 413, "body_too_large");
    s_resp_free(&r);
    big[MAX_BODY] = '\0';   /* exactly the limit is fine (then invalid JSON) */
    r = s_get("POST", "/v1/orders", NULL, big);
    s_assert_error(&r, 400, "invalid_json");
    s_resp_free(&r);
    free(big);

    /* Far beyond: evhttp refuses it before reading. */
    const char *huge = "POST /v1/orders HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "Content-Length: 100000000\r\n\r\n{}";
    s_client_t *c = s_client_send(huge, strlen(huge));
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    assert_true(c->done);
    char line[32] = "";
    evbuffer_copyout(c->got, line, sizeof line - 1);
    if (!strstr(line, " 413 "))
        fail_msg("expected 413, got \"%s\"", line);
    s_client_free(c);
}

static void
test_builtins(void **state)
{
    (void) state;
    s_resp_t r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "status"), "ok");
    json_decref(o);
    s_resp_free(&r);

    r = s_get("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    cc_http_set_ready(s_http, s_ready_fn, NULL);
    s_ready = 0;
    r = s_get("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 503);
    s_resp_free(&r);
    s_ready = 1;
    r = s_get("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);

    r = s_get("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "# TYPE http_requests_total counter\n"));
    assert_non_null(strstr(r.body, "http_requests_total{code=\"200\"} 3\n"));
    assert_non_null(strstr(r.body, "http_requests_total{code=\"503\"} 1\n"));
    assert_non_null(strstr(r.body, "# TYPE http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(r.body, "http_request_duration_seconds_count 4\n"));
    s_resp_free(&r);
}

static void
test_drain(void **state)
{
    (void) state;
    cc_http_drain(s_http);
    s_resp_t r = s_get("GET", "/v1/orders/a", NULL, NULL);
    s_assert_error(&r, 503, "draining");
    assert_non_null(strcasestr(r.head, "Retry-After: 1"));
    s_resp_free(&r);
    r = s_get("GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 503);
    s_resp_free(&r);
    r = s_get("GET", "/healthz", NULL, NULL);     /* still alive */
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_deferred_reply(void **state)
{
    (void) state;
    const char *raw = "POST /v1/orders/o7/cancel HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Content-Length: 0\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(50);
    assert_non_null(s_held);
    assert_int_equal(cc_http_pending(s_http), 1);
    s_run(30);      /* other loop passes happen before the reply */
    assert_false(c->done);
    assert_string_equal(cc_http_path_param(s_held, "id"), "o7");
    assert_true(cc_http_age_s(s_held) >= 0.02);
    cc_http_reply_json(&s_held, 202, json_pack("{s:s}", "state", "cancelled"));
    assert_null(s_held);
    assert_int_equal(cc_http_pending(s_http), 0);
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    size_t n = evbuffer_get_length(c->got);
    char *text = calloc(1, n + 1);
    evbuffer_remove(c->got, text, n);
    assert_non_null(strstr(text, " 202 "));
    assert_non_null(strstr(text, "{\"state\":\"cancelled\"}"));
    free(text);
    s_client_free(c);
}

/* A deferred request unanswered at its deadline is answered 503 timeout
 * with Retry-After; its handler's reply, when it comes, is dropped (and
 * frees the request: ASan). */
static void
test_deadline(void **state)
{
    (void) state;
    cc_http_set_limits(s_http, 0, 200);
    const char *raw = "POST /v1/orders/o8/cancel HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Content-Length: 0\r\n\r\n";
    s_resp_t r = s_exchange(raw, strlen(raw));
    s_assert_error(&r, 503, "timeout");
    assert_non_null(strcasestr(r.head, "Retry-After: 1"));
    s_resp_free(&r);
    assert_non_null(s_held);
    assert_int_equal(cc_http_pending(s_http), 0);
    assert_string_equal(cc_http_path_param(s_held, "id"), "o8");   /* still valid */
    cc_http_reply_json(&s_held, 202, json_pack("{s:s}", "state", "cancelled"));
    assert_null(s_held);
    assert_true(s_metric("http_deadline_exceeded_total") == 1);
    assert_true(s_metric("http_late_replies_total") == 1);
    assert_true(s_metric("http_requests_total{code=\"202\"}") == 0);
    /* Answered in time: no timeout. */
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(20);
    cc_http_reply_json(&s_held, 202, json_pack("{s:s}", "state", "cancelled"));
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    s_run(300);
    assert_true(s_metric("http_deadline_exceeded_total") == 1);
    assert_true(s_metric("http_requests_total{code=\"202\"}") == 1);
    s_client_free(c);
}

static cc_http_req_t *s_holds[4];
static int s_nholds;

static void
h_hold(cc_http_req_t *req, void *arg)
{
    (void) arg;
    s_holds[s_nholds++] = req;
}

/* Beyond max_open unanswered requests a new one is refused 503 overloaded
 * (Retry-After, Connection: close), counted; health stays served; and
 * once answered there is room again. */
static void
test_open_requests_bounded(void **state)
{
    (void) state;
    assert_int_equal(cc_http_route(s_http, "POST", "/v1/hold", h_hold, NULL), 0);
    cc_http_set_limits(s_http, 2, 0);
    s_nholds = 0;
    const char *raw = "POST /v1/hold HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    s_client_t *a = s_client_send(raw, strlen(raw));
    s_client_t *b = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && s_nholds < 2; i++)
        s_run(20);
    assert_int_equal(s_nholds, 2);
    s_resp_t r = s_get("POST", "/v1/hold", NULL, NULL);
    s_assert_error(&r, 503, "overloaded");
    assert_non_null(strcasestr(r.head, "Retry-After: 1"));
    assert_non_null(strcasestr(r.head, "Connection: close"));
    s_resp_free(&r);
    assert_int_equal(s_nholds, 2);      /* the handler never saw it */
    assert_true(s_metric("http_rejected_total{reason=\"open_requests\"}") == 1);
    r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    cc_http_reply_json(&s_holds[0], 200, json_object());
    cc_http_reply_json(&s_holds[1], 200, json_object());
    r = s_get("GET", "/v1/orders/x", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    s_client_free(a);
    s_client_free(b);
}

static void
test_client_gone_before_reply(void **state)
{
    (void) state;
    const char *raw = "POST /v1/orders/o8/cancel HTTP/1.1\r\nHost: t\r\n"
                      "Content-Length: 0\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(50);
    assert_non_null(s_held);
    s_client_free(c);               /* the client goes away */
    s_run(100);                     /* the server notices */
    assert_true(s_metric("http_clients_gone_total") == 1);
    assert_int_equal(cc_http_pending(s_http), 1);   /* still owed a reply */
    /* The request's copies stay readable until the reply. */
    assert_string_equal(cc_http_path_param(s_held, "id"), "o8");
    assert_string_equal(cc_http_header(s_held, "host"), "t");
    cc_http_reply_json(&s_held, 200, json_pack("{s:s}", "late", "yes"));
    assert_int_equal(cc_http_pending(s_http), 0);
    assert_true(s_metric("http_replies_dropped_total") == 1);
    s_run(20);

    /* The server still works. */
    s_resp_t r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_client_gone_reply_at_once(void **state)
{
    (void) state;
    /* The reply is written before the loop can notice the close. */
    const char *raw = "POST /v1/orders/o9/cancel HTTP/1.1\r\nHost: t\r\n"
                      "Content-Length: 0\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(50);
    assert_non_null(s_held);
    s_client_free(c);
    cc_http_reply_error(&s_held, 409, "conflict", "order_id", "already done");
    assert_null(s_held);
    s_run(100);
    assert_int_equal(cc_http_pending(s_http), 0);
    s_resp_t r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_destroy_with_pending(void **state)
{
    (void) state;
    const char *raw = "POST /v1/orders/o10/cancel HTTP/1.1\r\nHost: t\r\n"
                      "Content-Length: 0\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(50);
    assert_non_null(s_held);
    cc_http_destroy(&s_http);
    /* The request outlives the server; its reply is dropped. */
    assert_string_equal(cc_http_path_param(s_held, "id"), "o10");
    cc_http_reply_json(&s_held, 200, json_object());
    assert_true(s_metric("http_replies_dropped_total") == 1);
    s_run(50);
    s_client_free(c);
}

static void
test_keepalive(void **state)
{
    (void) state;
    /* Two requests on one connection, the first deferred. */
    const char *raw = "POST /v1/orders/k1/cancel HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
                      "GET /v1/orders/k2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_held; i++)
        s_run(50);
    assert_non_null(s_held);
    cc_http_reply_json(&s_held, 200, json_pack("{s:s}", "first", "k1"));
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    size_t n = evbuffer_get_length(c->got);
    char *text = calloc(1, n + 1);
    evbuffer_remove(c->got, text, n);
    char *first = strstr(text, "{\"first\":\"k1\"}");
    char *second = strstr(text, "\"id\":\"k2\"");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    free(text);
    s_client_free(c);
}

static void
test_head(void **state)
{
    (void) state;
    const char *raw = "HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    size_t n = evbuffer_get_length(c->got);
    char *text = calloc(1, n + 1);
    evbuffer_remove(c->got, text, n);
    assert_non_null(strstr(text, " 200 "));
    assert_null(strstr(text, "\"ok\""));    /* no body for HEAD */
    free(text);
    s_client_free(c);
}

static void
test_bad_setup(void **state)
{
    (void) state;
    /* The port is taken. */
    char port[8];
    snprintf(port, sizeof port, "%d", cc_http_port(s_http));
    assert_null(cc_http_new(s_base, "127.0.0.1", cc_http_port(s_http), 10));
    assert_null(cc_http_new(s_base, "127.0.0.1", 70000, 10));
    assert_int_equal(cc_http_route(s_http, "GET", "no-slash", h_stats, NULL), -1);
    assert_int_equal(cc_http_route(s_http, "GET", "/a/{1}/{2}/{3}/{4}/{5}/{6}/{7}/{8}/{9}",
                                   h_stats, NULL), -1);
}

/* ---- route tables: guards ------------------------------------------- */

static int s_gate = 1;

static int
s_gate_fn(void *arg)
{
    (void) arg;
    return s_gate;
}

/* Echoes what the guards handed over: captures, the checked key, the body. */
static void
h_t_echo(cc_http_req_t *req, void *arg)
{
    assert_ptr_equal(arg, &s_gate);
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:O?}", "id", cc_http_path_param(req, "id"),
                          "elder_id", cc_http_path_param(req, "elder_id"), "name",
                          cc_http_path_param(req, "name"), "idem", cc_http_idem_key(req),
                          "json", cc_http_json(req));
    assert_non_null(o);
    cc_http_reply_json(&req, 200, o);
}

static void
h_t_search(cc_http_req_t *req, void *arg)
{
    (void) arg;
    int bad = -1;
    const char *id = cc_http_query_id(req, "order_id", &bad);
    if (bad) {
        assert_null(id);
        return;     /* answered 400 */
    }
    assert_int_equal(bad, 0);
    cc_http_reply_json(&req, 200, json_pack("{s:s?}", "order_id", id));
}

static void
h_t_csv(cc_http_req_t *req, void *arg)
{
    (void) arg;
    size_t len = 0;
    cc_http_body(req, &len);
    cc_http_reply_json(&req, 200, json_pack("{s:I}", "len", (json_int_t) len));
}

static const cc_http_route_t s_table[] = {
    { "GET", "/v2/orders/{id}", h_t_echo, CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v2/elders/{elder_id}/notes/{name}", h_t_echo, CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v2/tags/{tag_idx}", h_t_echo, CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v2/orders/{id}/accept", h_t_echo, CC_ROUTE_IDEM | CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v2/orders", h_t_echo, CC_ROUTE_IDEM_OPT | CC_ROUTE_JSON | CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v2/search", h_t_search, CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v2/import", h_t_csv, CC_ROUTE_CSV | CC_ROUTE_PUBLIC, 0 },
    { NULL, NULL, NULL, 0, 0 },
};

#define UPPER_ID "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
#define LOWER_ID "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

static int
s_setup_table(void **state)
{
    s_setup(state);
    s_gate = 1;
    assert_int_equal(cc_http_set_hosts(s_http, "test"), 0);
    assert_int_equal(cc_http_routes(s_http, s_table, &s_gate), 0);
    cc_http_set_gate(s_http, s_gate_fn, NULL);
    return 0;
}

/* Error of r: status, error and field (NULL: JSON null). */
static void
s_assert_field(const s_resp_t *r, int status, const char *error, const char *field)
{
    s_assert_error(r, status, error);
    json_t *o = s_json(r);
    if (field)
        assert_string_equal(s_field(o, "field"), field);
    else
        assert_true(json_is_null(json_object_get(o, "field")));
    json_decref(o);
}

/* CC_ROUTE_CSV: text/csv only, up to the bulk limit; other routes keep
 * max_body. */
static void
test_table_csv(void **state)
{
    (void) state;
    cc_http_set_bulk_body(s_http, 4 * MAX_BODY);
    char *big = malloc(5 * MAX_BODY + 1);
    assert_non_null(big);
    memset(big, 'x', 5 * MAX_BODY);
    big[3 * MAX_BODY] = '\0';
    s_resp_t r = s_get("POST", "/v2/import", "Content-Type: text/csv; charset=utf-8\r\n", big);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "3072"));
    s_resp_free(&r);
    r = s_get("POST", "/v2/import", "Content-Type: application/json\r\n", "{}");
    s_assert_field(&r, 415, "unsupported_media_type", "Content-Type");
    s_resp_free(&r);
    r = s_get("POST", "/v2/orders", "Content-Type: application/json\r\n", big);
    s_assert_error(&r, 413, "body_too_large");
    s_resp_free(&r);
    big[3 * MAX_BODY] = 'x';
    big[5 * MAX_BODY] = '\0';
    r = s_get("POST", "/v2/import", "Content-Type: text/csv\r\n", big);
    s_assert_error(&r, 413, "body_too_large");
    s_resp_free(&r);
    free(big);
}

static const char *
s_admit_fn(const char *method, void *arg)
{
    (void) arg;
    return strcmp(method, "POST") == 0 ? "test_bound" : NULL;
}

/* Admission: a table route the hook refuses is answered 503 overloaded
 * with the hook's reason, counted, before the handler. */
static void
test_table_admit(void **state)
{
    (void) state;
    cc_http_set_admit(s_http, s_admit_fn, NULL);
    s_resp_t r = s_get("POST", "/v2/orders", NULL, "{}");
    s_assert_field(&r, 503, "overloaded", NULL);
    assert_non_null(strstr(r.body, "test_bound"));
    assert_non_null(strcasestr(r.head, "Retry-After: 1"));
    s_resp_free(&r);
    assert_true(s_metric("http_rejected_total{reason=\"test_bound\"}") == 1);
    r = s_get("GET", "/v2/orders/" LOWER_ID, NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_table_id_captures(void **state)
{
    (void) state;
    /* Either case in, lower case out. */
    s_resp_t r = s_get("GET", "/v2/orders/" UPPER_ID, NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "id"), LOWER_ID);
    json_decref(o);
    s_resp_free(&r);

    /* "_id" captures too; a capture named otherwise is left as it came. */
    r = s_get("GET", "/v2/elders/" UPPER_ID "/notes/AbC", NULL, NULL);
    assert_int_equal(r.status, 200);
    o = s_json(&r);
    assert_string_equal(s_field(o, "elder_id"), LOWER_ID);
    assert_string_equal(s_field(o, "name"), "AbC");
    json_decref(o);
    s_resp_free(&r);
    r = s_get("GET", "/v2/tags/NOT-A-UUID", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);

    /* Not a UUID names nothing: 404 naming the capture; the handler never runs. */
    const char *bad[] = { "/v2/orders/o-1", "/v2/orders/" LOWER_ID "0",
                          "/v2/orders/3f2504e0-4f89-11d3-9a0c-0305e82c330",
                          "/v2/orders/%7B3f2504e0-4f89-11d3-9a0c-0305e82c3301%7D",
                          "/v2/orders/3f2504e04f8911d39a0c0305e82c3301" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = s_get("GET", bad[i], NULL, NULL);
        s_assert_field(&r, 404, "not_found", "id");
        s_resp_free(&r);
    }
    r = s_get("GET", "/v2/elders/x/notes/y", NULL, NULL);
    s_assert_field(&r, 404, "not_found", "elder_id");
    s_resp_free(&r);
    /* Plain routes get no guards. */
    r = s_get("GET", "/v1/orders/o-1", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_table_gate(void **state)
{
    (void) state;
    s_gate = 0;
    s_resp_t r = s_get("GET", "/v2/orders/" LOWER_ID, NULL, NULL);
    s_assert_field(&r, 503, "starting", NULL);
    assert_non_null(strcasestr(r.head, "Retry-After: 1"));
    s_resp_free(&r);
    r = s_get("POST", "/v2/orders", NULL, "{}");
    s_assert_error(&r, 503, "starting");
    s_resp_free(&r);
    /* Builtins and plain routes are not gated. */
    r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    r = s_get("GET", "/v1/orders/o-1", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    s_gate = 1;
    r = s_get("GET", "/v2/orders/" LOWER_ID, NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    /* No gate at all: open. */
    cc_http_set_gate(s_http, NULL, NULL);
    s_gate = 0;
    r = s_get("GET", "/v2/orders/" LOWER_ID, NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_idem_key_rule(void **state)
{
    (void) state;
    char key[CC_IDEM_KEY_MAX + 2];
    for (int i = 0; i < CC_IDEM_KEY_MAX + 1; i++)
        key[i] = (char) (0x21 + i % (0x7f - 0x21));
    key[CC_IDEM_KEY_MAX + 1] = '\0';
    assert_int_equal(cc_http_idem_key_valid(key), 0);       /* 129 */
    key[CC_IDEM_KEY_MAX] = '\0';
    assert_int_equal(cc_http_idem_key_valid(key), 1);       /* 128, '!' .. '~' */
    assert_int_equal(cc_http_idem_key_valid("k"), 1);
    assert_int_equal(cc_http_idem_key_valid(NULL), 0);
    assert_int_equal(cc_http_idem_key_valid(""), 0);
    assert_int_equal(cc_http_idem_key_valid("a b"), 0);
    assert_int_equal(cc_http_idem_key_valid("a\tb"), 0);
    assert_int_equal(cc_http_idem_key_valid("a\x01"), 0);
    assert_int_equal(cc_http_idem_key_valid("a\x7f"), 0);
    assert_int_equal(cc_http_idem_key_valid("caf\xc3\xa9"), 0);
    assert_int_equal(cc_http_idem_key_valid("\x80"), 0);
}

static void
test_table_idempotency_key(void **state)
{
    (void) state;
    const char *path = "/v2/orders/" LOWER_ID "/accept";
    s_resp_t r = s_get("POST", path, NULL, NULL);
    s_assert_field(&r, 400, "missing_header", "Idempotency-Key");
    s_resp_free(&r);

    char key[CC_IDEM_KEY_MAX + 2], hdr[CC_IDEM_KEY_MAX + 64];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';                            /* 129 */
    const char *bad[] = { "", key, "a b", "a\tb", "caf\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s\r\n", bad[i]);
        r = s_get("POST", path, hdr, NULL);
        s_assert_field(&r, 400, "invalid_value", "Idempotency-Key");
        s_resp_free(&r);
    }
    /* 128 printable characters (all of '!'..'~' occur) reach the handler. */
    for (int i = 0; i < CC_IDEM_KEY_MAX; i++)
        key[i] = (char) (0x21 + i % (0x7f - 0x21));
    key[CC_IDEM_KEY_MAX] = '\0';
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s\r\n", key);
    r = s_get("POST", path, hdr, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "idem"), key);
    json_decref(o);
    s_resp_free(&r);

    /* Optional: absent is fine, present must still be valid. */
    r = s_get("POST", "/v2/orders", NULL, "{}");
    assert_int_equal(r.status, 200);
    o = s_json(&r);
    assert_true(json_is_null(json_object_get(o, "idem")));
    json_decref(o);
    s_resp_free(&r);
    r = s_get("POST", "/v2/orders", "Idempotency-Key: a b\r\n", "{}");
    s_assert_field(&r, 400, "invalid_value", "Idempotency-Key");
    s_resp_free(&r);
}

static void
test_table_json(void **state)
{
    (void) state;
    const char *bad_json[] = { "{\"a\":", "", "{\"a\":1,\"a\":2}" };
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        s_resp_t r = s_get("POST", "/v2/orders", NULL, bad_json[i]);
        s_assert_field(&r, 400, "invalid_json", NULL);
        s_resp_free(&r);
    }
    s_resp_t r = s_get("POST", "/v2/orders", NULL, "[1,2]");
    s_assert_field(&r, 400, "not_an_object", NULL);
    s_resp_free(&r);
    r = s_get("POST", "/v2/orders", "Idempotency-Key: k-1\r\n", "{\"n\":7,\"s\":\"x\"}");
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    json_t *j = json_object_get(o, "json");
    assert_true(json_is_object(j));
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 7);
    assert_string_equal(s_field(j, "s"), "x");
    assert_string_equal(s_field(o, "idem"), "k-1");
    json_decref(o);
    s_resp_free(&r);
    /* Without CC_ROUTE_JSON there is no parsed body. */
    r = s_get("POST", "/v2/orders/" LOWER_ID "/accept", "Idempotency-Key: k\r\n", "{}");
    assert_int_equal(r.status, 200);
    o = s_json(&r);
    assert_true(json_is_null(json_object_get(o, "json")));
    json_decref(o);
    s_resp_free(&r);
    assert_int_equal(cc_http_pending(s_http), 0);
}

static void
test_table_query_id(void **state)
{
    (void) state;
    s_resp_t r = s_get("GET", "/v2/search?order_id=" UPPER_ID "&x=1", NULL, NULL);
    assert_int_equal(r.status, 200);
    json_t *o = s_json(&r);
    assert_string_equal(s_field(o, "order_id"), LOWER_ID);
    json_decref(o);
    s_resp_free(&r);
    r = s_get("GET", "/v2/search?x=1", NULL, NULL);
    assert_int_equal(r.status, 200);
    o = s_json(&r);
    assert_true(json_is_null(json_object_get(o, "order_id")));
    json_decref(o);
    s_resp_free(&r);
    const char *bad[] = { "/v2/search?order_id=nope", "/v2/search?order_id=",
                          "/v2/search?order_id", "/v2/search?order_id=" LOWER_ID "%20" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = s_get("GET", bad[i], NULL, NULL);
        s_assert_field(&r, 400, "invalid_value", "order_id");
        s_resp_free(&r);
    }
}

static void
test_table_bad_pattern(void **state)
{
    (void) state;
    static const cc_http_route_t bad[] = {
        { "GET", "/v3/ok", h_t_echo, CC_ROUTE_PUBLIC, 0 },
        { "GET", "no-slash", h_t_echo, CC_ROUTE_PUBLIC, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    assert_int_equal(cc_http_routes(s_http, bad, &s_gate), -1);
}

/* ---- who is calling ------------------------------------------------------ */

static cc_jwt_key_t *s_key;
static cc_jwks_t *s_keys;
static char s_keydir[] = "/tmp/cc_http_test_XXXXXX";
static char s_keypath[64];

/* Echo the caller: role and the scope check of ?district=N. */
static void
h_who(cc_http_req_t *req, void *arg)
{
    (void) arg;
    const cc_jwt_claims_t *c = cc_http_claims(req);
    const char *d = cc_http_query(req, "district");
    cc_scope_t scope = { .district_id = d ? (uint32_t) atoi(d) : 0 };
    if (d && cc_http_scope(&req, &scope) != 0)
        return;
    cc_http_reply_json(&req, 200, json_pack("{s:s}", "role", c ? cc_role_name(c->role) : "-"));
}

static const cc_http_route_t s_auth_table[] = {
    { "GET", "/v4/board", h_who, 0, CC_ROLE_DISPATCHER | CC_ROLE_ADMIN },
    { "POST", "/v4/board", h_who, 0, CC_ROLE_ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};

static int
s_setup_auth(void **state)
{
    s_setup(state);
    s_gate = 1;
    assert_non_null(mkdtemp(s_keydir));
    snprintf(s_keypath, sizeof s_keypath, "%s/issuer.jwk", s_keydir);
    assert_int_equal(cc_jwt_key_generate(s_keypath, "k1", NULL), 0);
    s_key = cc_jwt_key_load(s_keypath, NULL);
    assert_non_null(s_key);
    s_keys = cc_jwks_new();
    assert_int_equal(cc_jwks_add_key(s_keys, s_key, NULL), 0);
    cc_jwt_policy_t policy = { "iss-t", "aud-t", 60 };
    assert_int_equal(cc_http_set_auth(s_http, s_keys, &policy), 0);
    /* The guard asks the process' revocation table (cc_revoke_ok). */
    cc_revoke_set_loaded(cc_revoke_default());
    assert_int_equal(cc_http_set_hosts(s_http, "test, localhost:8081"), 0);
    assert_int_equal(cc_http_routes(s_http, s_auth_table, &s_gate), 0);
    return 0;
}

static int
s_teardown_auth(void **state)
{
    s_teardown(state);
    cc_jwks_destroy(&s_keys);
    cc_jwt_key_destroy(&s_key);
    unlink(s_keypath);
    rmdir(s_keydir);
    strcpy(s_keydir, "/tmp/cc_http_test_XXXXXX");
    return 0;
}

/* "Authorization: Bearer <token>\r\n" for role (districts 1, 2) in hdr. */
static void
s_bearer(char *hdr, size_t size, cc_role_t role, const char *aud, int64_t exp_in)
{
    cc_jwt_claims_t c = { .role = role, .exp = (int64_t) time(NULL) + exp_in };
    snprintf(c.iss, sizeof c.iss, "iss-t");
    snprintf(c.sub, sizeof c.sub, "acct-1");
    c.n_districts = 2;
    c.district_ids[0] = 1;
    c.district_ids[1] = 2;
    char *t = cc_jwt_sign(s_key, &c, aud, NULL);
    assert_non_null(t);
    snprintf(hdr, size, "Authorization: Bearer %s\r\n", t);
    free(t);
}

static void
test_auth_roles(void **state)
{
    (void) state;
    char hdr[2048];
    s_resp_t r = s_get("GET", "/v4/board", NULL, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    assert_non_null(strcasestr(r.head, "WWW-Authenticate: Bearer"));
    s_resp_free(&r);
    r = s_get("GET", "/v4/board", "Authorization: Basic dTpw\r\n", NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
    s_bearer(hdr, sizeof hdr, CC_ROLE_DISPATCHER, "aud-t", 600);
    r = s_get("GET", "/v4/board", hdr, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "dispatcher"));
    s_resp_free(&r);
    /* Scope: district 2 is theirs, 3 is not. */
    r = s_get("GET", "/v4/board?district=2", hdr, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    r = s_get("GET", "/v4/board?district=3", hdr, NULL);
    s_assert_field(&r, 403, "forbidden", "district_id");
    s_resp_free(&r);
    /* A role not in the mask. */
    r = s_get("POST", "/v4/board", hdr, "{}");
    s_assert_field(&r, 403, "forbidden", "role");
    s_resp_free(&r);
    s_bearer(hdr, sizeof hdr, CC_ROLE_OPERATOR, "aud-t", 600);
    r = s_get("GET", "/v4/board", hdr, NULL);
    s_assert_field(&r, 403, "forbidden", "role");
    s_resp_free(&r);
    /* Expired beyond the skew, another audience: 401. */
    s_bearer(hdr, sizeof hdr, CC_ROLE_DISPATCHER, "aud-t", -120);
    r = s_get("GET", "/v4/board", hdr, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
    s_bearer(hdr, sizeof hdr, CC_ROLE_DISPATCHER, "other", 600);
    r = s_get("GET", "/v4/board", hdr, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
}

/* A verified token of a disabled account, or of an older gen: 401 naming
 * the revocation, after cc_jwt_verify, in the guard. */
static void
test_auth_revoked(void **state)
{
    (void) state;
    char hdr[2048];
    cc_jwt_claims_t c = { .role = CC_ROLE_ADMIN, .exp = (int64_t) time(NULL) + 600, .gen = 1 };
    snprintf(c.iss, sizeof c.iss, "iss-t");
    snprintf(c.sub, sizeof c.sub, "acct-revoked");
    char *t = cc_jwt_sign(s_key, &c, "aud-t", NULL);
    assert_non_null(t);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", t);
    free(t);
    s_resp_t r = s_get("GET", "/v4/board", hdr, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    assert_int_equal(cc_revoke_set(cc_revoke_default(), "acct-revoked", 2, 0), 0);
    r = s_get("GET", "/v4/board", hdr, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    assert_non_null(strstr(r.body, "revoked"));
    s_resp_free(&r);
}

/* A verified token is kept (one signature check per token, not per
 * request); a new key set (a reload) forgets every kept token. */
static void
test_auth_cache(void **state)
{
    (void) state;
    char hdr[2048];
    s_bearer(hdr, sizeof hdr, CC_ROLE_ADMIN, "aud-t", 600);
    double hits = s_metric("http_token_cache_hits_total");
    for (int i = 0; i < 3; i++) {
        s_resp_t r = s_get("GET", "/v4/board", hdr, NULL);
        assert_int_equal(r.status, 200);
        s_resp_free(&r);
    }
    assert_true(s_metric("http_token_cache_hits_total") == hits + 2);
    /* The issuer's key is replaced: the kept token must not outlive it. */
    cc_jwks_t *other = cc_jwks_new();
    char path[300];
    snprintf(path, sizeof path, "%s/other.jwk", s_keydir);
    assert_int_equal(cc_jwt_key_generate(path, "k2", NULL), 0);
    cc_jwt_key_t *k2 = cc_jwt_key_load(path, NULL);
    assert_int_equal(cc_jwks_add_key(other, k2, NULL), 0);
    cc_jwt_policy_t policy = { "iss-t", "aud-t", 60 };
    assert_int_equal(cc_http_set_auth(s_http, other, &policy), 0);
    s_resp_t r = s_get("GET", "/v4/board", hdr, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
    assert_int_equal(cc_http_set_auth(s_http, s_keys, &policy), 0);
    cc_jwks_destroy(&other);
    cc_jwt_key_destroy(&k2);
    unlink(path);
}

/* A kept token is found by the whole token, never by a part of it: the
 * same token with any one byte changed (header, claims, signature), one
 * byte longer or one shorter must be verified afresh (and refused), not
 * served from the table. (Fails with the table keyed by a prefix.) */
static void
test_auth_cache_exact(void **state)
{
    (void) state;
    char hdr[2048], bad[2048];
    s_bearer(hdr, sizeof hdr, CC_ROLE_ADMIN, "aud-t", 600);
    s_resp_t r = s_get("GET", "/v4/board", hdr, NULL);     /* verified, kept */
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    const char *tok = strstr(hdr, "Bearer ") + 7;
    size_t off = (size_t) (tok - hdr), len = strcspn(tok, "\r");
    const char *dot2 = strrchr(tok, '.');
    assert_non_null(dot2);
    size_t sig = (size_t) (dot2 - tok) + 1;
    size_t at[] = { 1, sig / 2, sig + 5, len - 20, len - 2 };
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        memcpy(bad, hdr, sizeof bad);
        char *c = bad + off + at[k];
        *c = *c == 'A' ? 'B' : 'A';
        double hits = s_metric("http_token_cache_hits_total");
        double refused = s_metric("http_tokens_refused_total");
        r = s_get("GET", "/v4/board", bad, NULL);
        s_assert_field(&r, 401, "unauthorized", "Authorization");
        s_resp_free(&r);
        assert_true(s_metric("http_token_cache_hits_total") == hits);
        assert_true(s_metric("http_tokens_refused_total") == refused + 1);
    }
    /* One byte shorter, one byte longer. */
    snprintf(bad, sizeof bad, "Authorization: Bearer %.*s\r\n", (int) len - 1, tok);
    r = s_get("GET", "/v4/board", bad, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
    snprintf(bad, sizeof bad, "Authorization: Bearer %.*sA\r\n", (int) len, tok);
    r = s_get("GET", "/v4/board", bad, NULL);
    s_assert_field(&r, 401, "unauthorized", "Authorization");
    s_resp_free(&r);
    /* The token itself is still kept. */
    double hits = s_metric("http_token_cache_hits_total");
    r = s_get("GET", "/v4/board", hdr, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    assert_true(s_metric("http_token_cache_hits_total") == hits + 1);
}

static void
test_auth_browser_rules(void **state)
{
    (void) state;
    char hdr[2048], more[2300];
    s_bearer(hdr, sizeof hdr, CC_ROLE_ADMIN, "aud-t", 600);
    /* A write without the JSON content type: 415, with one: served. */
    snprintf(more, sizeof more, "%sContent-Type: text/plain\r\n", hdr);
    s_resp_t r = s_get("POST", "/v4/board", more, "{}");
    s_assert_field(&r, 415, "unsupported_media_type", "Content-Type");
    s_resp_free(&r);
    snprintf(more, sizeof more, "%sContent-Type: Application/JSON; charset=utf-8\r\n", hdr);
    r = s_get("POST", "/v4/board", more, "{}");
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    /* Origin: listed hosts only. */
    snprintf(more, sizeof more, "%sOrigin: http://localhost:8081\r\n", hdr);
    r = s_get("GET", "/v4/board", more, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    const char *bad[] = { "http://evil.example", "null", "http://localhost:8082",
                          "http://localhost:8081/x", "http://a@localhost:8081" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(more, sizeof more, "%sOrigin: %s\r\n", hdr, bad[i]);
        r = s_get("GET", "/v4/board", more, NULL);
        s_assert_field(&r, 403, "forbidden", "Origin");
        s_resp_free(&r);
    }
    /* Host: another name (DNS rebinding) is misdirected. */
    const char *raw = "GET /v4/board HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n"
                      "\r\n";
    r = s_exchange(raw, strlen(raw));
    s_assert_field(&r, 421, "misdirected_request", "Host");
    s_resp_free(&r);
    /* The builtins stay public. */
    r = s_get("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
}

static void
test_auth_table_rules(void **state)
{
    (void) state;
    static const cc_http_route_t no_roles[] = {
        { "GET", "/v5/x", h_who, 0, 0 },
        { NULL, NULL, NULL, 0, 0 },
    };
    static const cc_http_route_t public_with_roles[] = {
        { "GET", "/v5/y", h_who, CC_ROUTE_PUBLIC, CC_ROLE_ADMIN },
        { NULL, NULL, NULL, 0, 0 },
    };
    assert_int_equal(cc_http_routes(s_http, no_roles, NULL), -1);
    assert_int_equal(cc_http_routes(s_http, public_with_roles, NULL), -1);
    char *text = cc_http_routes_json(s_auth_table);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"dispatcher\""));
    assert_non_null(strstr(text, "/v4/board"));
    free(text);
}

/* ---- audit hook ------------------------------------------------------ */

typedef struct {
    int status, hold, handled;     /* handled: handler runs before this call */
    char pattern[64], ids[256];
} s_audit_call_t;

static s_audit_call_t s_calls[8];
static int s_ncalls, s_handled, s_audit_fail;
static cc_http_req_t *s_audit_held;

static int
s_audit_hook(cc_http_req_t *req, int status, int hold, void *arg)
{
    assert_ptr_equal(arg, &s_gate);
    if (s_audit_fail)
        return -1;
    assert_true(s_ncalls < 8);
    s_audit_call_t *c = &s_calls[s_ncalls++];
    c->status = status;
    c->hold = hold;
    c->handled = s_handled;
    snprintf(c->pattern, sizeof c->pattern, "%s", cc_http_route_pattern(req));
    char *ids = json_dumps(cc_http_audit_ids(req), JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(c->ids, sizeof c->ids, "%s", ids);
    free(ids);
    assert_string_equal(cc_http_peer(req), "127.0.0.1");
    assert_int_equal(strlen(cc_http_request_id(req)), 36);
    if (hold)
        s_audit_held = req;
    return 0;
}

static void
h_a_elder(cc_http_req_t *req, void *arg)
{
    (void) arg;
    s_handled++;
    cc_http_reply_json(&req, 200, json_pack("{s:s, s:s}", "elder_id",
                                            cc_http_path_param(req, "id"), "phone",
                                            "13800000000"));
}

static void
h_a_list(cc_http_req_t *req, void *arg)
{
    (void) arg;
    s_handled++;
    cc_http_reply_json(&req, 200, json_pack("{s:[{s:s},{s:s},{s:i}]}", "elders", "elder_id",
                                            LOWER_ID, "elder_id", UPPER_ID, "x", 1));
}

static void
h_a_write(cc_http_req_t *req, void *arg)
{
    (void) arg;
    s_handled++;
    cc_http_reply_json(&req, 201, json_pack("{s:s}", "state", "ok"));
}

static const cc_http_route_t s_audit_table[] = {
    { "GET", "/v3/elders/{id}", h_a_elder, CC_ROUTE_PII | CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v3/elders", h_a_list, CC_ROUTE_PII | CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v3/plain/{id}", h_a_elder, CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v3/orders/{id}/cancel", h_a_write, CC_ROUTE_JSON | CC_ROUTE_PUBLIC, 0 },
    { NULL, NULL, NULL, 0, 0 },
};

static int
s_setup_audit(void **state)
{
    s_setup_table(state);
    assert_int_equal(cc_http_routes(s_http, s_audit_table, &s_gate), 0);
    cc_http_set_audit(s_http, s_audit_hook, &s_gate);
    s_ncalls = s_handled = s_audit_fail = 0;
    s_audit_held = NULL;
    memset(s_calls, 0, sizeof s_calls);
    return 0;
}

static void
test_audit_write_row_before_handler(void **state)
{
    (void) state;
    s_resp_t r = s_get("POST", "/v3/orders/" UPPER_ID "/cancel", NULL,
                       "{\"elder_id\":\"" UPPER_ID "\",\"name\":\"secret\"}");
    assert_int_equal(r.status, 201);
    s_resp_free(&r);
    assert_int_equal(s_ncalls, 2);
    /* Accepted: before the handler, no status; then the outcome. */
    assert_int_equal(s_calls[0].handled, 0);
    assert_int_equal(s_calls[0].status, 0);
    assert_int_equal(s_calls[0].hold, 0);
    assert_string_equal(s_calls[0].pattern, "/v3/orders/{id}/cancel");
    assert_string_equal(s_calls[0].ids, "{\"elder_id\":\"" LOWER_ID "\",\"id\":\"" LOWER_ID
                        "\"}");
    assert_int_equal(s_calls[1].handled, 1);
    assert_int_equal(s_calls[1].status, 201);
    assert_int_equal(s_calls[1].hold, 0);
    /* Not audited: a plain read. */
    r = s_get("GET", "/v3/plain/" LOWER_ID, NULL, NULL);
    assert_int_equal(r.status, 200);
    s_resp_free(&r);
    assert_int_equal(s_ncalls, 2);
    /* A write whose row cannot be queued never reaches its handler. */
    s_audit_fail = 1;
    r = s_get("POST", "/v3/orders/" LOWER_ID "/cancel", NULL, "{}");
    s_assert_field(&r, 503, "audit_unavailable", NULL);
    s_resp_free(&r);
    assert_int_equal(s_handled, 2);      /* the write and the plain read */
}

static void
test_audit_read_waits_for_its_row(void **state)
{
    (void) state;
    const char *raw = "GET /v3/elders/" LOWER_ID " HTTP/1.1\r\nHost: test\r\n"
                      "Connection: close\r\n\r\n";
    s_client_t *c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_audit_held; i++)
        s_run(50);
    assert_non_null(s_audit_held);
    assert_int_equal(s_ncalls, 1);
    assert_int_equal(s_calls[0].status, 200);
    assert_int_equal(s_calls[0].hold, 1);
    assert_string_equal(s_calls[0].ids, "{\"elder_id\":\"" LOWER_ID "\",\"id\":\"" LOWER_ID
                        "\"}");
    s_run(50);
    assert_false(c->done);      /* the data waits for its audit row */
    assert_int_equal(cc_http_pending(s_http), 1);
    cc_http_audit_done(s_audit_held, 1);
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    size_t n = evbuffer_get_length(c->got);
    char *text = calloc(1, n + 1);
    evbuffer_remove(c->got, text, n);
    assert_non_null(strstr(text, " 200 "));
    assert_non_null(strstr(text, "13800000000"));
    free(text);
    s_client_free(c);
    /* A list: the elders of its objects. */
    s_audit_held = NULL;
    raw = "GET /v3/elders HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    c = s_client_send(raw, strlen(raw));
    for (int i = 0; i < 100 && !s_audit_held; i++)
        s_run(50);
    assert_non_null(s_audit_held);
    assert_string_equal(s_calls[1].ids, "{\"elder_ids\":[\"" LOWER_ID "\"]}");
    /* The row failed: no data, 503. */
    cc_http_audit_done(s_audit_held, 0);
    for (int i = 0; i < 100 && !c->done; i++)
        s_run(50);
    n = evbuffer_get_length(c->got);
    text = calloc(1, n + 1);
    evbuffer_remove(c->got, text, n);
    assert_non_null(strstr(text, " 503 "));
    assert_non_null(strstr(text, "audit_unavailable"));
    assert_null(strstr(text, LOWER_ID));
    free(text);
    s_client_free(c);
    /* No row could be queued: 503 at once. */
    s_audit_fail = 1;
    s_resp_t r = s_get("GET", "/v3/elders/" LOWER_ID, NULL, NULL);
    s_assert_field(&r, 503, "audit_unavailable", NULL);
    assert_null(strstr(r.body, "13800000000"));
    s_resp_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing_params_query, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_json_bodies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_builtins, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_drain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deferred_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_open_requests_bounded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_admit, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_csv, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_before_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_reply_at_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_setup, s_setup, s_teardown),
        cmocka_unit_test(test_idem_key_rule),
        cmocka_unit_test_setup_teardown(test_table_id_captures, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_gate, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_idempotency_key, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_json, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_query_id, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_table_bad_pattern, s_setup_table, s_teardown),
        cmocka_unit_test_setup_teardown(test_auth_roles, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_revoked, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_cache, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_cache_exact, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_browser_rules, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_table_rules, s_setup_auth, s_teardown_auth),
        cmocka_unit_test_setup_teardown(test_audit_write_row_before_handler, s_setup_audit,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_read_waits_for_its_row, s_setup_audit,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
