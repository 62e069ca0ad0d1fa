/* http: cc_http's request intake on raw bytes: libevent's HTTP parser, then
 * routing, percent-decoded captures, the route guards of a table (Host and
 * Origin, the bearer token, Content-Type, UUID captures, Idempotency-Key,
 * the JSON body), query parsing, the audit trail's ids, deferred replies and
 * the JSON error replies. A server on 127.0.0.1 (a free port) serves a table
 * with one route per guard combination the daemons use; each input is sent
 * on a new connection, the write side is shut, and the loop runs until the
 * server closes it. Every request must be answered and the server must end
 * each input with nothing pending. Tokens are verified against the fuzz key
 * (fuzz_key.h; the seeds carry tokens signed with it, valid until 2100).
 * Input: the bytes a client sends (one or more pipelined requests). */
#include "fuzz.h"
#include "fuzz_key.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/event.h>
#include "cc_http.h"
#include "cc_log.h"
#include "cc_revoke.h"

static struct event_base *s_base;
static cc_http_t *s_http;
static cc_http_req_t *s_deferred;   /* GET /v1/slow: answered on the next pass */
static cc_http_req_t *s_held;       /* a PII read waiting for its audit row */
static struct event *s_later;       /* answers both */

static void s_answer_later(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
    if (s_deferred)
        cc_http_reply_json(&s_deferred, 200, json_pack("{s:s}", "status", "late"));
    if (s_held) {
        cc_http_req_t *r = s_held;
        s_held = NULL;
        cc_http_audit_done(r, 1);
    }
}

static int s_audit(cc_http_req_t *req, int status, int hold, void *arg)
{
    (void) arg;
    (void) status;
    json_t *ids = cc_http_audit_ids(req);
    if (!ids)
        abort();   /* never NULL for an audited request (cc_http.h) */
    if (hold) {
        if (s_held)
            abort();
        s_held = req;
        event_active(s_later, 0, 0);
    }
    return 0;
}

/* POST /v1/things: a write with a JSON body and a required key. */
static void s_create(cc_http_req_t *req, void *arg)
{
    (void) arg;
    json_t *body = cc_http_json(req);
    const char *key = cc_http_idem_key(req);
    if (!body || !key || !cc_idem_key_valid(key))
        abort();   /* the guards promised both */
    cc_err_t err;
    const char *name = NULL;
    if (cc_json_str(body, "name", 1, 200, &name, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    cc_http_reply_json(&req, 201, json_pack("{s:s, s:s}", "name", name, "key", key));
}

/* GET /v1/things/{id}: a capture and the query readers. */
static void s_get(cc_http_req_t *req, void *arg)
{
    (void) arg;
    const char *id = cc_http_path_param(req, "id");
    if (!id || !cc_uuid_valid(id))
        abort();   /* the guard made it a lower-case UUID */
    for (const char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            abort();
    int bad = 0;
    const char *elder = cc_http_query_id(req, "elder_id", &bad);
    if (bad)
        return;   /* answered 400 */
    const char *q = cc_http_query(req, "q");
    const char *ua = cc_http_header(req, "User-Agent");
    size_t blen = 0;
    (void) cc_http_body(req, &blen);
    cc_http_reply_json(&req, 200, json_pack("{s:s, s:s?, s:s?, s:b}", "id", id, "elder_id",
                                            elder, "q", q, "ua", ua != NULL));
}

/* GET /v1/things/{id}/parts/{part_id}: a PII read, audited and held. */
static void s_part(cc_http_req_t *req, void *arg)
{
    (void) arg;
    cc_http_reply_json(&req, 200,
                       json_pack("{s:[{s:s},{s:s}]}", "items", "elder_id",
                                 "7d6c5b4a-3928-4716-8504-f3e2d1c0b9a8", "elder_id",
                                 cc_http_path_param(req, "part_id")));
}

/* POST /v1/things/{id}/cancel: optional key, optional body (od cancel). */
static void s_cancel(cc_http_req_t *req, void *arg)
{
    (void) arg;
    size_t blen = 0;
    cc_http_body(req, &blen);
    if (blen > 0) {
        json_t *body = cc_http_json_body(req);
        if (!body)
            return;
        json_decref(body);
    }
    cc_http_reply_error(&req, 409, "not_cancellable", "state", "the order is done");
}

/* Routes with roles: the claims and the scope checks. */
static void s_scoped(cc_http_req_t *req, void *arg)
{
    (void) arg;
    const cc_jwt_claims_t *c = cc_http_claims(req);
    if (!c)
        abort();   /* a route with roles has a verified caller */
    const char *cg = cc_http_path_param(req, "visit_id");
    cc_scope_t s = { 1, cg, cg, cg, cg };
    if (cc_http_scope(&req, &s) != 0)
        return;
    const char *d = cc_http_query(req, "district_id");
    if (d && cc_http_scope_district(&req, (uint32_t) strtoul(d, NULL, 10)) != 0)
        return;
    cc_http_reply_json(&req, 200, json_pack("{s:s}", "sub", c->sub));
}

static void s_slow(cc_http_req_t *req, void *arg)
{
    (void) arg;
    if (s_deferred)
        cc_http_reply_error(&req, 503, "busy", NULL, "one at a time");
    else {
        s_deferred = req;
        event_active(s_later, 0, 0);
    }
}

static const cc_http_route_t s_routes[] = {
    { "POST", "/v1/things", s_create, CC_ROUTE_PUBLIC | CC_ROUTE_JSON | CC_ROUTE_IDEM, 0 },
    { "GET", "/v1/things/{id}", s_get, CC_ROUTE_PUBLIC, 0 },
    { "GET", "/v1/things/{id}/parts/{part_id}", s_part, CC_ROUTE_PUBLIC | CC_ROUTE_PII, 0 },
    { "POST", "/v1/things/{id}/cancel", s_cancel, CC_ROUTE_PUBLIC | CC_ROUTE_IDEM_OPT, 0 },
    { "GET", "/v1/slow", s_slow, CC_ROUTE_PUBLIC, 0 },
    { "POST", "/v1/visits/{visit_id}/accept", s_scoped, CC_ROUTE_JSON,
      CC_ROLE_CAREGIVER | CC_ROLE_ADMIN },
    { "GET", "/v1/visits/{visit_id}", s_scoped, CC_ROUTE_PII, CC_ROLE_ALL },
    { "PUT", "/v1/prices/{service}", s_scoped, CC_ROUTE_JSON | CC_ROUTE_IDEM_OPT,
      CC_ROLE_ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    cc_jwks_t *keys = fz_key_init();
    s_base = event_base_new();
    s_http = s_base ? cc_http_new(s_base, "127.0.0.1", 0, 64 * 1024) : NULL;
    cc_jwt_policy_t pol = { FZ_ISS, FZ_AUD, -1 };
    s_later = s_base ? event_new(s_base, -1, 0, s_answer_later, NULL) : NULL;
    if (!s_http || !s_later || cc_http_routes(s_http, s_routes, NULL) != 0
        || cc_http_set_auth(s_http, keys, &pol) != 0
        || cc_http_set_hosts(s_http, "eldercare.fuzz,127.0.0.1") != 0)
        abort();
    cc_http_set_audit(s_http, s_audit, NULL);
    cc_revoke_set_loaded(cc_revoke_default());
    return 0;
}

typedef struct {
    int fd;
    int done;
} s_client_t;

static void s_on_client(evutil_socket_t fd, short what, void *arg)
{
    s_client_t *c = arg;
    if (what & EV_TIMEOUT) {
        fprintf(stderr, "http: no end of connection within 10 s\n");
        abort();
    }
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        c->done = 1;   /* EOF or reset: the server is done with us */
        event_base_loopbreak(s_base);
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) cc_http_port(s_http));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0)
        abort();
    /* A blocking write of the whole input: the kernel buffers far more than
     * libFuzzer's inputs (4 KiB by default); the server reads it next. */
    for (size_t off = 0; off < size;) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;   /* the server may close early (a bad request line) */
        off += (size_t) n;
    }
    shutdown(fd, SHUT_WR);
    evutil_make_socket_nonblocking(fd);
    s_client_t c = { fd, 0 };
    struct event *ev = event_new(s_base, fd, EV_READ | EV_PERSIST, s_on_client, &c);
    struct timeval tv = { 10, 0 };
    if (!ev || event_add(ev, &tv) != 0)
        abort();
    while (!c.done)
        event_base_dispatch(s_base);
    event_free(ev);
    /* Reset, not FIN: no TIME_WAIT left behind per input. */
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    /* Everything accepted was answered (a reply to a gone client is
     * dropped, but the request is finished). */
    event_base_loop(s_base, EVLOOP_NONBLOCK);
    if (s_deferred || s_held || cc_http_pending(s_http) != 0) {
        fprintf(stderr, "http: %d requests left unanswered\n", cc_http_pending(s_http));
        abort();
    }
    return 0;
}
