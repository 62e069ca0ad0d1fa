/* cc_http: evhttp server with routing, JSON replies and builtin endpoints.
 * See cc_http.h.
 *
 * Lifetime of a request. libevent owns the evhttp_request and frees it when
 * its connection goes away; a handler may keep our cc_http_req_t across
 * loop passes (deferred reply). So:
 *   - everything a handler may read (path, query, headers, body) is copied
 *     into cc_http_req_t when the request arrives;
 *   - the connection's close callback marks the request dead and, unless
 *     libevent detached the request from the connection (it then survives
 *     and is ours to free, http.c evhttp_connection_incoming_fail), forgets
 *     the evhttp_request that libevent is about to free;
 *   - libevent 2.1 stops reading a connection while its request is being
 *     handled, so it would only notice a vanished client when the reply is
 *     written. While a reply is deferred we watch the socket with EV_CLOSED
 *     (EPOLLRDHUP) and free the connection ourselves when the peer closes.
 *     A client that half-closes (shutdown(SHUT_WR)) and still waits for the
 *     reply is treated as gone; HTTP clients do not do that in practice.
 *   - a reply to a dead request is dropped and counted. */
#include "cc_http.h"
#include "cc_revoke.h"

#include <assert.h>
#include <ctype.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"

#define S_MAX_SEGS 32           /* path segments considered for routing */
#define S_MAX_PARAMS 8          /* {captures} per pattern */
#define S_MAX_QUERY 64          /* query parameters kept */
#define S_MAX_HEADERS_SIZE (16 * 1024)
#define S_TIMEOUT_S 60          /* idle keep-alive / slow client */

typedef struct s_route {
    struct s_route *next;
    char *method;               /* "GET", "POST", ... */
    char *pattern;              /* as registered, for logs */
    char *segbuf;               /* storage the segments point into */
    char *segs[S_MAX_SEGS];     /* pattern segments; "{name}" captures */
    int nsegs;
    int nliteral;               /* literal segments: the more, the more specific */
    cc_http_fn *fn;
    void *arg;
    int table;                  /* registered by cc_http_routes: guards apply */
    unsigned flags;             /* CC_ROUTE_* */
    unsigned roles;             /* CC_ROLE_* allowed */
} s_route_t;

struct cc_http {
    struct event_base *base;    /* borrowed */
    struct evhttp *http;        /* owned */
    int port;                   /* bound port */
    size_t max_body;            /* bodies above get our JSON 413 */
    size_t bulk_body;           /* CC_ROUTE_CSV routes' limit (0: max_body) */
    s_route_t *routes;          /* registration order */
    s_route_t **routes_tail;
    cc_http_ready_fn *ready_fn;
    void *ready_arg;
    int draining;               /* cc_http_drain called */
    cc_http_ready_fn *gate_fn;  /* table routes: 503 while it returns 0 */
    void *gate_arg;
    const char *gate_error;     /* what a closed gate answers (NULL: "starting") */
    const char *gate_message;
    int pending;                /* accepted, not answered */
    cc_http_req_t *live;        /* unanswered requests (for destroy) */
    const cc_jwks_t *keys;      /* borrowed; NULL: every token refused */
    char *iss, *aud;            /* token policy (owned) */
    int skew_s;
    char *hosts;                /* allowed Host/Origin values, ",a,b," (owned) */
    char addr[64];              /* listen address, for the default hosts */
    cc_http_audit_fn *audit_fn; /* NULL: nothing audited */
    void *audit_arg;
    struct s_tok *tokens;       /* verified tokens (S_TOK_SLOTS), NULL: none yet */
    int max_open;               /* open requests beyond: 503 overloaded; 0 no bound */
    int64_t deadline_us;        /* a request unanswered this long: 503 timeout; 0 none */
    cc_http_admit_fn *admit_fn; /* table routes: 503 overloaded when it says why */
    void *admit_arg;
};

/* Verified tokens, so that a client's token costs one signature check
 * (Ed25519, about half a million instructions) for its life, not one per
 * request: direct-mapped by a hash of the whole token; an entry is good
 * until exp + skew, as cc_jwt_verify would judge it (nbf and iat only get
 * easier with time); the table is emptied whenever the key set or policy
 * is set (cc_http_set_auth, a reload). Revocation is checked per request. */
#define S_TOK_SLOTS 512
struct s_tok {
    unsigned char hash[crypto_generichash_BYTES];
    int64_t until_s;            /* exclusive; 0: empty slot */
    cc_jwt_claims_t claims;
};

/* Audit state of a request (cc_http_set_audit). */
enum { S_AUDIT_NONE = 0, S_AUDIT_WRITE, S_AUDIT_READ, S_AUDIT_HELD, S_AUDIT_DONE };

typedef struct {
    char *name;
    char *value;
} s_pair_t;

struct cc_http_req {
    cc_http_req_t *prev, *next;     /* in owner->live */
    cc_http_t *owner;               /* NULL once the server is destroyed */
    struct evhttp_request *req;     /* NULL when libevent freed it */
    struct evhttp_connection *conn; /* NULL once closed */
    struct event *close_ev;         /* EV_CLOSED watch while deferred */
    int dead;                       /* client gone: the reply is dropped */
    struct event *deadline_ev;      /* armed while deferred (cc_http_set_limits) */
    int64_t deadline_us;            /* cc_http_set_deadline; 0: the server's */
    int keep;                       /* s_finish must not free r (the deadline's reply) */
    int expired;                    /* answered at its deadline: the handler's reply
                                       is dropped and frees r */
    int *answered_p;                /* set to 1 on reply during dispatch */
    const char *method;             /* static text */
    char *path;                     /* raw (undecoded) path */
    char *query_raw;                /* raw query string or NULL */
    s_pair_t *query;                /* decoded, parsed on first use */
    int nquery;
    int query_parsed;
    s_pair_t *headers;              /* copied input headers */
    int nheaders;
    s_pair_t params[S_MAX_PARAMS];  /* decoded {captures} */
    int nparams;
    char *body;                     /* NUL-terminated copy */
    size_t body_len;
    int64_t start_us;               /* cc_mono_us at arrival */
    json_t *json;                   /* CC_ROUTE_JSON body */
    const char *idem;               /* checked Idempotency-Key (in headers) */
    int has_claims;                 /* claims verified (a route with roles) */
    cc_jwt_claims_t claims;
    char peer[64];                  /* peer address, "" when unknown */
    int audit;                      /* S_AUDIT_* */
    char *pattern;                  /* matched route's pattern (audited requests) */
    json_t *ids;                    /* audited ids (owned) */
    char reqid[CC_UUID_LEN];        /* shared by the request's audit rows */
    int held_status;                /* the reply waiting for the audit row */
    char *held_ctype, *held_data, *held_name, *held_value;
    size_t held_len;
};

/* ---- helpers -------------------------------------------------------- */

static const char *
s_method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "UNKNOWN";
    }
}

/* Split a path ("/a/b") into segments pointing into buf (modified).
 * Returns the count, or -1 when there are too many. */
static int
s_split(char *buf, char **segs)
{
    char *p = buf[0] == '/' ? buf + 1 : buf;
    int n = 0;
    for (;;) {
        if (n == S_MAX_SEGS)
            return -1;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return n;
        *slash = '\0';
        p = slash + 1;
    }
}

static int
s_is_capture(const char *seg)
{
    size_t n = strlen(seg);
    return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

static void
s_pairs_free(s_pair_t *pairs, int n)
{
    for (int i = 0; i < n; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
}

static void
s_req_free(cc_http_req_t *r)
{
    if (r->close_ev)
        event_free(r->close_ev);
    if (r->deadline_ev)
        event_free(r->deadline_ev);
    s_pairs_free(r->params, r->nparams);
    if (r->query) {
        s_pairs_free(r->query, r->nquery);
        free(r->query);
    }
    if (r->headers) {
        s_pairs_free(r->headers, r->nheaders);
        free(r->headers);
    }
    free(r->path);
    free(r->pattern);
    if (r->ids)
        json_decref(r->ids);
    free(r->held_ctype);
    free(r->held_data);
    free(r->held_name);
    free(r->held_value);
    free(r->query_raw);
    free(r->body);
    if (r->json)
        json_decref(r->json);
    free(r);
}

static void
s_unlink(cc_http_req_t *r)
{
    if (!r->owner)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        r->owner->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->owner->pending--;
    r->prev = r->next = NULL;
    r->owner = NULL;
}

/* Stop watching the connection on behalf of r. */
static void
s_release_conn(cc_http_req_t *r)
{
    if (r->close_ev) {
        event_free(r->close_ev);
        r->close_ev = NULL;
    }
    if (r->conn) {
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
        r->conn = NULL;
    }
}

static void
s_count(int status, cc_http_req_t *r)
{
    char name[64];
    snprintf(name, sizeof name, "http_requests_total{code=\"%d\"}", status);
    cc_metric_inc(cc_metrics_counter(name, "HTTP requests answered, by status code."));
    cc_metric_observe(cc_metrics_histogram("http_request_duration_seconds",
                                           "Time from request arrival to reply."),
                      cc_http_age_s(r));
}

/* Answer r (consumed) with status, content type and body bytes.
 * extra_name/extra_value: one more header or NULL. */
static const char s_audit_unavailable[] =
    "{\"error\":\"audit_unavailable\",\"field\":null,"
    "\"message\":\"cannot record this request in the audit trail, try again\"}";

static char *
s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Keep r's reply until its audit row commits (cc_http_audit_done). 0, or
 * -1: not held (no memory, no hook or the hook could not queue). */
static int
s_hold(cc_http_req_t *r, int status, const char *ctype, const char *data, size_t len,
       const char *extra_name, const char *extra_value)
{
    r->audit = S_AUDIT_HELD;
    if (!r->owner || !r->owner->audit_fn)
        return -1;
    r->held_status = status;
    r->held_len = len;
    r->held_ctype = s_dup(ctype);
    r->held_data = malloc(len + 1);
    r->held_name = s_dup(extra_name);
    r->held_value = s_dup(extra_value);
    if ((ctype && !r->held_ctype) || !r->held_data || (extra_name && !r->held_name)
        || (extra_value && !r->held_value))
        return -1;
    if (len)
        memcpy(r->held_data, data, len);
    r->held_data[len] = '\0';
    return r->owner->audit_fn(r, status, 1, r->owner->audit_arg);
}

static void
s_finish(cc_http_req_t *r, int status, const char *ctype, const char *data, size_t len,
         const char *extra_name, const char *extra_value)
{
    if (r->expired) {
        /* Its deadline answered already; the handler has now finished. */
        cc_metric_inc(cc_metrics_counter("http_late_replies_total",
                                         "Replies dropped: the request had been answered "
                                         "503 timeout at its deadline."));
        s_req_free(r);
        return;
    }
    if (r->deadline_ev) {
        event_free(r->deadline_ev);
        r->deadline_ev = NULL;
    }
    if (status < 100 || status > 599)
        status = 500;       /* API misuse; still answer */
    /* Every 503 says when to come back (RFC 9110 15.6.4). */
    if (status == 503 && !extra_name) {
        extra_name = "Retry-After";
        extra_value = "1";
    }
    if (r->audit == S_AUDIT_READ) {
        /* Personal data leaves only once its reading is on record. */
        if (s_hold(r, status, ctype, data, len, extra_name, extra_value) == 0)
            return;
        cc_metric_inc(cc_metrics_counter("audit_refused_total",
                                         "Requests refused because no audit row could be "
                                         "queued."));
        status = 503;
        ctype = "application/json";
        data = s_audit_unavailable;
        len = sizeof s_audit_unavailable - 1;
        extra_name = extra_value = NULL;
    } else if (r->audit == S_AUDIT_WRITE) {
        /* The outcome: best effort (the request's row is already queued). */
        r->audit = S_AUDIT_DONE;
        if (r->owner && r->owner->audit_fn)
            r->owner->audit_fn(r, status, 0, r->owner->audit_arg);
    }
    s_count(status, r);
    if (r->answered_p)
        *r->answered_p = 1;
    int draining = r->owner && r->owner->draining;
    s_unlink(r);
    s_release_conn(r);

    if (r->dead || !r->req) {
        cc_metric_inc(cc_metrics_counter("http_replies_dropped_total",
                                         "Replies dropped because the client had gone."));
        if (r->req)
            evhttp_request_free(r->req);   /* detached from its connection: ours */
        r->req = NULL;
        if (!r->keep)
            s_req_free(r);
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    if (ctype)
        evhttp_add_header(out, "Content-Type", ctype);
    if (extra_name && extra_value)
        evhttp_add_header(out, extra_name, extra_value);
    if (draining)
        evhttp_add_header(out, "Connection", "close");   /* reconnect elsewhere */
    if (strcmp(r->method, "HEAD") == 0)
        len = 0;    /* evhttp would send the body after the headers */
    struct evbuffer *buf = evbuffer_new();
    if (buf && len > 0 && evbuffer_add(buf, data, len) != 0) {
        evbuffer_free(buf);
        buf = NULL;
    }
    if (!buf) {
        evhttp_send_reply(r->req, 500, NULL, NULL);
    } else {
        evhttp_send_reply(r->req, status, NULL, buf);
        evbuffer_free(buf);
    }
    r->req = NULL;      /* libevent's again once sent */
    if (!r->keep)
        s_req_free(r);
}

static void s_error_ex(cc_http_req_t *r, int status, const char *error, const char *field,
                       const char *message, const char *extra_name, const char *extra_value);

/* A deferred request reached its deadline: answer 503 now and keep r for
 * its handler, whose reply (still to come, after its statement's result)
 * then only frees it. A write may yet commit: the client retries with the
 * same Idempotency-Key and learns the outcome. */
static void
s_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_http_req_t *r = arg;
    event_free(r->deadline_ev);
    r->deadline_ev = NULL;
    cc_metric_inc(cc_metrics_counter("http_deadline_exceeded_total",
                                     "Requests answered 503 timeout at their deadline."));
    if (r->audit == S_AUDIT_READ)
        r->audit = S_AUDIT_DONE;    /* an error carries no personal data to record */
    r->keep = 1;
    s_error_ex(r, 503, "timeout", NULL,
               "no answer within the request's deadline; the database is slow or away. "
               "Retry (a write with the same Idempotency-Key)", "Retry-After", "1");
    r->keep = 0;
    r->expired = 1;
}

static void
s_arm_deadline(cc_http_req_t *r)
{
    int64_t limit = r->deadline_us ? r->deadline_us : r->owner ? r->owner->deadline_us : 0;
    if (!r->owner || !limit || r->deadline_ev)
        return;
    int64_t left = r->start_us + limit - cc_mono_us();
    if (left < 0)
        left = 0;
    r->deadline_ev = evtimer_new(r->owner->base, s_on_deadline, r);
    struct timeval tv = { (time_t) (left / 1000000), (suseconds_t) (left % 1000000) };
    if (r->deadline_ev && evtimer_add(r->deadline_ev, &tv) != 0) {
        event_free(r->deadline_ev);
        r->deadline_ev = NULL;
    }
}

/* An elder id (a UUID, lower case) into ids[key], if not there yet. */
static void
s_ids_elder(json_t *ids, const char *key, json_t *v)
{
    char id[CC_UUID_LEN];
    if (!json_is_string(v) || cc_uuid_norm(json_string_value(v), id) != 0)
        return;
    if (strcmp(key, "elder_id") == 0) {
        if (!json_object_get(ids, key))
            json_object_set_new(ids, key, json_string(id));
        return;
    }
    json_t *list = json_object_get(ids, key);
    if (!list) {
        list = json_array();
        if (json_object_set_new(ids, key, list) != 0)
            return;
    }
    if (json_array_size(list) >= 100)
        return;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
        if (strcmp(json_string_value(x), id) == 0)
            return;
    json_array_append_new(list, json_string(id));
}

/* The elder(s) a reply is about: its "elder_id", or those of the objects
 * of its lists ({"elders": [{"elder_id": ..}, ..]}). Ids only. */
static void
s_ids_from_reply(cc_http_req_t *r, json_t *body)
{
    if (!json_is_object(body))
        return;
    s_ids_elder(r->ids, "elder_id", json_object_get(body, "elder_id"));
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (!json_is_array(v))
            continue;
        size_t i;
        json_t *o;
        json_array_foreach(v, i, o)
            if (json_is_object(o))
                s_ids_elder(r->ids, "elder_ids", json_object_get(o, "elder_id"));
    }
}

static void
s_reply_json_ex(cc_http_req_t *r, int status, json_t *body, const char *extra_name,
                const char *extra_value)
{
    /* A NULL body is a failed json_pack or json_object: out of memory. */
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15);
    if (r->ids && (r->audit == S_AUDIT_READ || r->audit == S_AUDIT_WRITE) && body)
        s_ids_from_reply(r, body);
    char *text = body ? json_dumps(body, flags) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"error\":\"internal\",\"field\":null,"
                                  "\"message\":\"cannot encode reply\"}";
        s_finish(r, 500, "application/json", oom, sizeof oom - 1, NULL, NULL);
        return;
    }
    s_finish(r, status, "application/json", text, strlen(text), extra_name, extra_value);
    free(text);
}

/* {"error":..,"field":..|null,"message":..}; strings that are not valid
 * UTF-8 (client text echoed back) degrade to null rather than failing. */
static json_t *
s_error_body(const char *error, const char *field, const char *message)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "error", error ? json_string(error) : json_null());
    json_t *f = field && *field ? json_string(field) : NULL;
    json_object_set_new(o, "field", f ? f : json_null());
    json_t *m = message ? json_string(message) : NULL;
    json_object_set_new(o, "message", m ? m : json_string(""));
    return o;
}

static void
s_error_ex(cc_http_req_t *r, int status, const char *error, const char *field,
           const char *message, const char *extra_name, const char *extra_value)
{
    s_reply_json_ex(r, status, s_error_body(error, field, message), extra_name, extra_value);
}

/* ---- connection tracking -------------------------------------------- */

static void
s_on_conn_close(struct evhttp_connection *conn, void *arg)
{
    (void) conn;
    cc_http_req_t *r = arg;
    r->dead = 1;
    r->conn = NULL;
    /* Still queued on the connection: libevent frees it right after this
     * callback. Detached (evcon NULL): it survives and s_finish frees it. */
    if (r->req && evhttp_request_get_connection(r->req) != NULL)
        r->req = NULL;
    cc_metric_inc(cc_metrics_counter("http_clients_gone_total",
                                     "Clients that closed before their reply."));
}

static void
s_on_peer_closed(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_http_req_t *r = arg;
    event_free(r->close_ev);
    r->close_ev = NULL;
    struct evhttp_connection *conn = r->conn;
    if (conn)
        evhttp_connection_free(conn);   /* runs s_on_conn_close */
}

static void
s_watch_close(cc_http_req_t *r)
{
    if (!r->owner || !r->conn || r->close_ev)
        return;
    if (!(event_base_get_features(r->owner->base) & EV_FEATURE_EARLY_CLOSE))
        return;     /* the write of the reply will notice instead */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(r->conn);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return;
    r->close_ev = event_new(r->owner->base, fd, EV_CLOSED, s_on_peer_closed, r);
    if (r->close_ev && event_add(r->close_ev, NULL) != 0) {
        event_free(r->close_ev);
        r->close_ev = NULL;
    }
}

/* ---- request intake ------------------------------------------------- */

static int
s_copy_headers(cc_http_req_t *r, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    int n = 0;
    TAILQ_FOREACH(kv, in, next)
        n++;
    if (n == 0)
        return 0;
    r->headers = calloc((size_t) n, sizeof *r->headers);
    if (!r->headers)
        return -1;
    TAILQ_FOREACH(kv, in, next) {
        s_pair_t *p = &r->headers[r->nheaders];
        p->name = strdup(kv->key);
        p->value = strdup(kv->value);
        r->nheaders++;
        if (!p->name || !p->value)
            return -1;
    }
    return 0;
}

/* Copy everything a handler may read; -1 on allocation failure. */
/* The largest body any route takes. */
static size_t
s_body_cap(const cc_http_t *self)
{
    return self->bulk_body > self->max_body ? self->bulk_body : self->max_body;
}

static int
s_capture(cc_http_req_t *r, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    r->path = strdup(path ? path : "");
    if (!r->path)
        return -1;
    if (query && !(r->query_raw = strdup(query)))
        return -1;
    if (s_copy_headers(r, req) != 0)
        return -1;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r->body_len = evbuffer_get_length(in);
    if (r->owner && r->body_len > s_body_cap(r->owner))
        return 0;   /* answered 413 by the caller; do not copy */
    r->body = malloc(r->body_len + 1);
    if (!r->body)
        return -1;
    if (r->body_len > 0 && evbuffer_copyout(in, r->body, r->body_len) != (ev_ssize_t) r->body_len)
        return -1;
    r->body[r->body_len] = '\0';
    return 0;
}

/* Best route for r: *method_match (exact route) or only *path_match. */
static void
s_match(cc_http_t *self, cc_http_req_t *r, s_route_t **method_match, s_route_t **path_match)
{
    *method_match = *path_match = NULL;
    char *buf = strdup(r->path);
    if (!buf)
        return;
    char *segs[S_MAX_SEGS];
    int n = s_split(buf, segs);
    for (s_route_t *rt = self->routes; n > 0 && rt; rt = rt->next) {
        if (rt->nsegs != n)
            continue;
        int ok = 1;
        for (int i = 0; ok && i < n; i++) {
            if (s_is_capture(rt->segs[i]))
                ok = segs[i][0] != '\0';
            else
                ok = strcmp(rt->segs[i], segs[i]) == 0;
        }
        if (!ok)
            continue;
        if (!*path_match || rt->nliteral > (*path_match)->nliteral)
            *path_match = rt;
        int same = strcmp(rt->method, r->method) == 0
                   || (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0);
        if (same && (!*method_match || rt->nliteral > (*method_match)->nliteral))
            *method_match = rt;
    }
    free(buf);
}

/* Decode the captures of rt from r->path; -1 when one is not decodable
 * text (embedded NUL) or memory runs out. */
static int
s_bind_params(cc_http_req_t *r, const s_route_t *rt)
{
    char *buf = strdup(r->path);
    if (!buf)
        return -1;
    char *segs[S_MAX_SEGS];
    int n = s_split(buf, segs);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (!s_is_capture(rt->segs[i]))
            continue;
        size_t len = 0;
        char *value = evhttp_uridecode(segs[i], 0, &len);
        char *name = strndup(rt->segs[i] + 1, strlen(rt->segs[i]) - 2);
        if (!value || !name || strlen(value) != len) {
            free(value);
            free(name);
            rc = -1;
            break;
        }
        r->params[r->nparams].name = name;
        r->params[r->nparams].value = value;
        r->nparams++;
    }
    free(buf);
    return rc;
}

static int
s_is_id_name(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "id") == 0 || (n > 3 && strcmp(name + n - 3, "_id") == 0);
}

/* The guards of a table route (cc_http.h); -1 when r was answered. */
static int
s_is_write(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
           || strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

/* 1 if len bytes of host are on the allowed list (",a,b,"). */
static int
s_host_allowed(const cc_http_t *self, const char *host, size_t len)
{
    if (!self->hosts || len == 0 || len > 255)
        return 0;
    for (const char *p = self->hosts; (p = strchr(p, ',')) && p[1]; p++) {
        const char *end = strchr(p + 1, ',');
        if (end && (size_t) (end - p - 1) == len && strncasecmp(p + 1, host, len) == 0)
            return 1;
    }
    return 0;
}

/* Origin "scheme://host[:port]" with an allowed host[:port]. "null" and
 * anything with a path or user part fails. */
static int
s_origin_allowed(const cc_http_t *self, const char *origin)
{
    const char *p = strstr(origin, "://");
    if (!p || (strncasecmp(origin, "http", 4) != 0))
        return 0;
    p += 3;
    size_t n = strcspn(p, "/?#@");
    return p[n] == '\0' && s_host_allowed(self, p, n);
}

/* "Content-Type: application/json", parameters (charset) allowed. */
static int
s_is_type(const char *ctype, const char *want, size_t wlen)
{
    if (!ctype)
        return 0;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    if (strncasecmp(ctype, want, wlen) != 0)
        return 0;
    const char *rest = ctype + wlen;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* Who is calling: 0 with r->claims, or -1 having answered 401/403. */
static int
s_authorize(cc_http_t *self, cc_http_req_t *r, const s_route_t *route)
{
    const char *h = cc_http_header(r, "Authorization");
    if (!h) {
        s_error_ex(r, 401, "unauthorized", "Authorization", "a bearer token is required",
                   "WWW-Authenticate", "Bearer realm=\"eldercare\"");
        return -1;
    }
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        s_error_ex(r, 401, "unauthorized", "Authorization",
                   "Authorization must be: Bearer <token>", "WWW-Authenticate",
                   "Bearer realm=\"eldercare\"");
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    cc_err_t err = { 0 };
    cc_jwt_policy_t policy = { self->iss, self->aud, self->skew_s };
    int64_t now = (int64_t) time(NULL);
    unsigned char hash[crypto_generichash_BYTES];
    struct s_tok *slot = NULL;
    if (self->tokens && len <= CC_JWT_MAX) {
        crypto_generichash(hash, sizeof hash, (const unsigned char *) h, len, NULL, 0);
        uint32_t ix;
        memcpy(&ix, hash, sizeof ix);
        slot = &self->tokens[ix % S_TOK_SLOTS];
    }
    int cached = slot && slot->until_s > now && sodium_memcmp(slot->hash, hash, sizeof hash) == 0;
    if (cached) {
        r->claims = slot->claims;
        cc_metric_inc(cc_metrics_counter("http_token_cache_hits_total",
                                         "Bearer tokens found verified already."));
    }
    if (!cached && (!self->keys || !self->iss || !self->aud)) {
        cc_err_set(&err, 401, "invalid_token", "kid", "no token issuer is configured");
    } else if (cached || cc_jwt_verify(self->keys, &policy, h, len, now, &r->claims,
                                       &err) == 0) {
        if (!cached && slot) {
            int skew = self->skew_s < 0 ? CC_JWT_SKEW_S : self->skew_s;
            memcpy(slot->hash, hash, sizeof hash);
            slot->until_s = r->claims.exp + skew;
            slot->claims = r->claims;
        }
        /* A verified token of a disabled or changed account (cc_revoke.h):
         * refused as any bad token. Before the table's first load nobody
         * can tell: 503, as for a daemon still starting. */
        if (!cc_revoke_loaded(cc_revoke_default())) {
            s_error_ex(r, 503, "starting", NULL, "the revoked-token table is loading; retry",
                       "Retry-After", "1");
            return -1;
        }
        if (!cc_revoke_ok(&r->claims)) {
            s_error_ex(r, 401, "unauthorized", "Authorization",
                       "invalid token (gen): revoked (account disabled or changed)",
                       "WWW-Authenticate", "Bearer error=\"invalid_token\"");
            return -1;
        }
        r->has_claims = 1;
        if (route->roles & r->claims.role)
            return 0;
        char msg[96];
        snprintf(msg, sizeof msg, "role %s may not %s %s", cc_role_name(r->claims.role),
                 r->method, route->pattern);
        s_error_ex(r, 403, "forbidden", "role", msg, NULL, NULL);
        return -1;
    }
    cc_metric_inc(cc_metrics_counter("http_tokens_refused_total",
                                     "Bearer tokens refused (missing ones not counted)."));
    char msg[320];
    snprintf(msg, sizeof msg, "invalid token (%s): %s", err.field[0] ? err.field : "token",
             err.message);
    s_error_ex(r, 401, "unauthorized", "Authorization", msg, "WWW-Authenticate",
               "Bearer error=\"invalid_token\"");
    return -1;
}

/* A request refused for load (back-pressure), by reason. */
static void
s_reject(const char *reason)
{
    char name[128];
    snprintf(name, sizeof name, "http_rejected_total{reason=\"%.80s\"}", reason);
    cc_metric_inc(cc_metrics_counter(name, "Requests refused 503 overloaded, by bound."));
}

static int
s_guard(cc_http_t *self, cc_http_req_t *r, const s_route_t *route)
{
    const char *host = cc_http_header(r, "Host");
    if (!host || !s_host_allowed(self, host, strlen(host))) {
        s_error_ex(r, 421, "misdirected_request", "Host", "this Host is not served here",
                   NULL, NULL);
        return -1;
    }
    const char *origin = cc_http_header(r, "Origin");
    if (origin && !s_origin_allowed(self, origin)) {
        s_error_ex(r, 403, "forbidden", "Origin", "requests from this Origin are not allowed",
                   NULL, NULL);
        return -1;
    }
    if (!(route->flags & CC_ROUTE_PUBLIC) && s_authorize(self, r, route) != 0)
        return -1;
    if (route->flags & CC_ROUTE_CSV) {
        if (!s_is_type(cc_http_header(r, "Content-Type"), "text/csv", 8)) {
            s_error_ex(r, 415, "unsupported_media_type", "Content-Type",
                       "this route takes Content-Type: text/csv", NULL, NULL);
            return -1;
        }
    } else if (s_is_write(r->method)
               && !s_is_type(cc_http_header(r, "Content-Type"), "application/json", 16)) {
        s_error_ex(r, 415, "unsupported_media_type", "Content-Type",
                   "writes need Content-Type: application/json", NULL, NULL);
        return -1;
    }
    for (int i = 0; i < r->nparams; i++) {
        if (!s_is_id_name(r->params[i].name))
            continue;
        if (cc_uuid_norm(r->params[i].value, r->params[i].value) != 0) {
            /* Not an id at all names nothing: 404, as an unknown id. */
            char msg[96];
            snprintf(msg, sizeof msg, "nothing has this %s (not a UUID)", r->params[i].name);
            s_error_ex(r, 404, "not_found", r->params[i].name, msg, NULL, NULL);
            return -1;
        }
    }
    if (self->gate_fn && !self->gate_fn(self->gate_arg)) {
        s_error_ex(r, 503, self->gate_error ? self->gate_error : "starting", NULL,
                   self->gate_error ? self->gate_message : "loading the working set, try again",
                   "Retry-After", "1");
        return -1;
    }
    const char *why = self->admit_fn ? self->admit_fn(r->method, self->admit_arg) : NULL;
    if (why) {
        s_reject(why);
        s_error_ex(r, 503, "overloaded", NULL, why, "Retry-After", "1");
        return -1;
    }
    if (route->flags & (CC_ROUTE_IDEM | CC_ROUTE_IDEM_OPT)) {
        const char *key = cc_http_header(r, "Idempotency-Key");
        if (!key && (route->flags & CC_ROUTE_IDEM)) {
            s_error_ex(r, 400, "missing_header", "Idempotency-Key",
                       "Idempotency-Key header is required", NULL, NULL);
            return -1;
        }
        if (key && !cc_http_idem_key_valid(key)) {
            char msg[96];
            snprintf(msg, sizeof msg, "Idempotency-Key must be 1..%d printable ASCII characters",
                     CC_IDEM_KEY_MAX);
            s_error_ex(r, 400, "invalid_value", "Idempotency-Key", msg, NULL, NULL);
            return -1;
        }
        r->idem = key;
    }
    if (route->flags & CC_ROUTE_JSON) {
        /* On failure it has answered 400 and freed r: touch r only on success. */
        json_t *body = cc_http_json_body(r);
        if (!body)
            return -1;
        r->json = body;
    }
    return 0;
}

/* Allow header for a path matched by pattern only. */
static void
s_allow(cc_http_t *self, const s_route_t *like, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (s_route_t *rt = self->routes; rt; rt = rt->next) {
        if (rt->nsegs != like->nsegs)
            continue;
        int same = 1;
        for (int i = 0; same && i < rt->nsegs; i++)
            same = strcmp(rt->segs[i], like->segs[i]) == 0
                   || (s_is_capture(rt->segs[i]) && s_is_capture(like->segs[i]));
        if (!same || strstr(buf, rt->method))
            continue;
        int k = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", rt->method);
        if (k < 0 || (size_t) k >= size - used)
            break;
        used += (size_t) k;
    }
}

static int
s_exempt_from_drain(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0;
}

/* An audited request: its ids, and for a write its row, queued before the
 * handler runs. 0, or -1 having answered 503. */
static int
s_audit_start(cc_http_t *self, cc_http_req_t *r, const s_route_t *route)
{
    r->pattern = strdup(route->pattern);
    r->ids = json_object();
    if (!r->pattern || !r->ids) {
        s_error_ex(r, 503, "overloaded", NULL, "out of memory", NULL, NULL);
        return -1;
    }
    cc_uuid(r->reqid);
    for (int i = 0; i < r->nparams; i++)
        json_object_set_new(r->ids, r->params[i].name, json_string(r->params[i].value));
    const char *q = cc_http_query(r, "elder_id");
    if (q) {
        json_t *v = json_string(q);
        s_ids_elder(r->ids, "elder_id", v);
        json_decref(v);
    }
    if (r->json)
        s_ids_elder(r->ids, "elder_id", json_object_get(r->json, "elder_id"));
    if (!s_is_write(r->method)) {
        r->audit = S_AUDIT_READ;
        return 0;
    }
    r->audit = S_AUDIT_WRITE;
    if (self->audit_fn(r, 0, 0, self->audit_arg) == 0)
        return 0;
    r->audit = S_AUDIT_DONE;
    cc_metric_inc(cc_metrics_counter("audit_refused_total",
                                     "Requests refused because no audit row could be queued."));
    s_error_ex(r, 503, "audit_unavailable", NULL,
               "cannot record this request in the audit trail, try again", "Retry-After", "1");
    return -1;
}

static void
s_on_request(struct evhttp_request *req, void *arg)
{
    cc_http_t *self = arg;
    cc_http_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(req, 503, NULL);
        return;
    }
    r->start_us = cc_mono_us();
    r->req = req;
    r->conn = evhttp_request_get_connection(req);
    r->method = s_method_name(evhttp_request_get_command(req));
    r->owner = self;
    r->next = self->live;
    if (self->live)
        self->live->prev = r;
    self->live = r;
    self->pending++;
    if (r->conn) {
        evhttp_connection_set_closecb(r->conn, s_on_conn_close, r);
        char *paddr = NULL;
        ev_uint16_t pport = 0;
        evhttp_connection_get_peer(r->conn, &paddr, &pport);
        if (paddr)
            snprintf(r->peer, sizeof r->peer, "%s", paddr);
    }

    if (s_capture(r, req) != 0) {
        s_error_ex(r, 503, "overloaded", NULL, "out of memory", NULL, NULL);
        return;
    }
    if (self->draining && !s_exempt_from_drain(r->path)) {
        s_error_ex(r, 503, "draining", NULL, "server is shutting down", "Retry-After", "1");
        return;
    }
    /* libevent 2.1 reads no further request from a connection while one is
     * open, so this bounds busy connections too; Connection: close sheds
     * the refused ones. Health and metrics stay answerable. */
    if (self->max_open && self->pending > self->max_open && !s_exempt_from_drain(r->path)
        && strcmp(r->path, "/readyz") != 0) {
        s_reject("open_requests");
        if (r->req)
            evhttp_add_header(evhttp_request_get_output_headers(r->req), "Connection", "close");
        s_error_ex(r, 503, "overloaded", NULL, "too many requests in progress, try again",
                   "Retry-After", "1");
        return;
    }
    if (r->body_len > s_body_cap(self)) {
        char msg[96];
        snprintf(msg, sizeof msg, "body exceeds %zu bytes", s_body_cap(self));
        s_error_ex(r, 413, "body_too_large", NULL, msg, NULL, NULL);
        return;
    }
    s_route_t *route, *path_route;
    s_match(self, r, &route, &path_route);
    size_t limit = route && (route->flags & CC_ROUTE_CSV) && self->bulk_body ? self->bulk_body
                   : self->max_body;
    if (r->body_len > limit) {
        char msg[96];
        snprintf(msg, sizeof msg, "body exceeds %zu bytes", limit);
        s_error_ex(r, 413, "body_too_large", NULL, msg, NULL, NULL);
        return;
    }
    if (!route && path_route) {
        char allow[128];
        s_allow(self, path_route, allow, sizeof allow);
        char msg[64];
        snprintf(msg, sizeof msg, "method %s not allowed", r->method);
        s_error_ex(r, 405, "method_not_allowed", NULL, msg, "Allow", allow);
        return;
    }
    if (!route) {
        s_error_ex(r, 404, "not_found", NULL, "no such resource", NULL, NULL);
        return;
    }
    if (s_bind_params(r, route) != 0) {
        s_error_ex(r, 400, "invalid_path", NULL, "path parameter is not valid text",
                   NULL, NULL);
        return;
    }
    if (route->table && s_guard(self, r, route) != 0)
        return;
    if (route->table && self->audit_fn
        && (s_is_write(r->method) || (route->flags & CC_ROUTE_PII))
        && s_audit_start(self, r, route) != 0)
        return;
    int answered = 0;
    r->answered_p = &answered;
    route->fn(r, route->arg);
    if (!answered) {
        /* Deferred: r is still live. */
        r->answered_p = NULL;
        s_watch_close(r);
        s_arm_deadline(r);
    }
}

/* ---- builtin endpoints ---------------------------------------------- */

static void
s_healthz(cc_http_req_t *req, void *arg)
{
    (void) arg;
    cc_http_reply_json(&req, 200, json_pack("{s:s}", "status", "ok"));
}

static void
s_readyz(cc_http_req_t *req, void *arg)
{
    cc_http_t *self = arg;
    int ready = !self->draining && (!self->ready_fn || self->ready_fn(self->ready_arg));
    cc_http_reply_json(&req, ready ? 200 : 503,
                       json_pack("{s:s}", "status",
                                 self->draining ? "draining" : ready ? "ready" : "starting"));
}

static void
s_metrics(cc_http_req_t *req, void *arg)
{
    (void) arg;
    char *text = cc_metrics_render();
    if (!text) {
        cc_http_reply_error(&req, 503, "overloaded", NULL, "cannot render metrics");
        return;
    }
    cc_http_reply_text(&req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

/* ---- public API ----------------------------------------------------- */

cc_http_t *
cc_http_new(struct event_base *base, const char *addr, int port, size_t max_body)
{
    assert(base);
    if (port < 0 || port > 65535) {
        cc_error("http_bind_failed", "reason", "port out of range");
        return NULL;
    }
    /* A client that resets its connection must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    cc_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->max_body = max_body;
    self->routes_tail = &self->routes;
    self->http = evhttp_new(base);
    if (!self->http) {
        free(self);
        return NULL;
    }
    /* Bodies a little over max_body are read and answered with our JSON
     * 413. evhttp refuses bigger ones from Content-Length before reading
     * them, with its own (HTML) 413 and a close; not counted in metrics. */
    size_t hard = max_body <= (SIZE_MAX - 65536) / 2 ? max_body * 2 + 65536 : max_body;
    if (hard > (size_t) INT64_MAX)
        hard = (size_t) INT64_MAX;
    evhttp_set_max_body_size(self->http, (ev_ssize_t) hard);
    evhttp_set_max_headers_size(self->http, S_MAX_HEADERS_SIZE);
    evhttp_set_timeout(self->http, S_TIMEOUT_S);
    evhttp_set_allowed_methods(self->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD
                               | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(self->http, s_on_request, self);

    const char *host = addr && *addr ? addr : "127.0.0.1";
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(self->http, host,
                                                                      (ev_uint16_t) port);
    if (!sock) {
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        cc_error("http_bind_failed", "addr", host, "port", p);
        evhttp_free(self->http);
        free(self);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);
    if (getsockname(fd, (struct sockaddr *) &ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            self->port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            self->port = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
    }
    snprintf(self->addr, sizeof self->addr, "%s", host);
    if (cc_http_set_hosts(self, NULL) != 0
        || cc_http_route(self, "GET", "/healthz", s_healthz, self) != 0
        || cc_http_route(self, "GET", "/readyz", s_readyz, self) != 0
        || cc_http_route(self, "GET", "/metrics", s_metrics, self) != 0) {
        cc_http_destroy(&self);
        return NULL;
    }
    return self;
}

void
cc_http_destroy(cc_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_http_t *self = *self_p;
    /* The watches use fds that evhttp_free closes; no deadline fires for
     * a server that is gone. */
    for (cc_http_req_t *r = self->live; r; r = r->next) {
        if (r->close_ev) {
            event_free(r->close_ev);
            r->close_ev = NULL;
        }
        if (r->deadline_ev) {
            event_free(r->deadline_ev);
            r->deadline_ev = NULL;
        }
    }
    /* Frees every connection: s_on_conn_close marks their requests dead. */
    evhttp_free(self->http);
    /* Unanswered requests outlive us; their replies are dropped. */
    while (self->live) {
        cc_http_req_t *r = self->live;
        r->dead = 1;
        s_unlink(r);
    }
    s_route_t *rt = self->routes;
    while (rt) {
        s_route_t *next = rt->next;
        free(rt->segbuf);
        free(rt->method);
        free(rt->pattern);
        free(rt);
        rt = next;
    }
    free(self->iss);
    free(self->aud);
    free(self->hosts);
    free(self->tokens);
    free(self);
    *self_p = NULL;
}

int
cc_http_port(const cc_http_t *self)
{
    return self ? self->port : -1;
}

int
cc_http_route(cc_http_t *self, const char *method, const char *pattern, cc_http_fn *fn,
              void *arg)
{
    assert(self && method && pattern && fn);
    s_route_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -1;
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    char *buf = strdup(pattern);
    if (!rt->method || !rt->pattern || !buf) {
        free(rt->method);
        free(rt->pattern);
        free(buf);
        free(rt);
        return -1;
    }
    for (char *p = rt->method; *p; p++)
        *p = (char) toupper((unsigned char) *p);
    rt->nsegs = s_split(buf, rt->segs);
    int ncaptures = 0;
    for (int i = 0; i < rt->nsegs; i++) {
        if (s_is_capture(rt->segs[i]))
            ncaptures++;
        else
            rt->nliteral++;
    }
    if (rt->nsegs < 0 || ncaptures > S_MAX_PARAMS || pattern[0] != '/') {
        cc_error("http_route_invalid", "pattern", pattern);
        free(buf);
        free(rt->method);
        free(rt->pattern);
        free(rt);
        return -1;
    }
    rt->segbuf = buf;
    rt->fn = fn;
    rt->arg = arg;
    *self->routes_tail = rt;
    self->routes_tail = &rt->next;
    return 0;
}

int
cc_http_routes(cc_http_t *self, const cc_http_route_t *table, void *arg)
{
    assert(self && table);
    for (const cc_http_route_t *t = table; t->method; t++) {
        /* Deny by default: a route says who may call it, or that it is public. */
        int public = (t->flags & CC_ROUTE_PUBLIC) != 0;
        if (public != (t->roles == 0) || (t->roles & ~CC_ROLE_ALL)) {
            cc_error("http_route_roles_invalid", "pattern", t->pattern,
                     "reason", public ? "a public route lists roles" : "no roles");
            return -1;
        }
        if (cc_http_route(self, t->method, t->pattern, t->fn, arg) != 0)
            return -1;
        s_route_t *rt = self->routes;
        while (rt->next)
            rt = rt->next;
        rt->table = 1;
        rt->flags = t->flags;
        rt->roles = t->roles;
    }
    return 0;
}

char *
cc_http_routes_json(const cc_http_route_t *table)
{
    static const struct { unsigned flag; const char *name; } flags[] = {
        { CC_ROUTE_IDEM, "idempotency_key" }, { CC_ROUTE_IDEM_OPT, "idempotency_key_optional" },
        { CC_ROUTE_JSON, "json_body" }, { CC_ROUTE_PUBLIC, "public" },
        { CC_ROUTE_PII, "personal_data" }, { CC_ROUTE_CSV, "csv_body" },
    };
    json_t *list = json_array();
    for (const cc_http_route_t *t = table; list && t && t->method; t++) {
        json_t *roles = json_array(), *fl = json_array();
        for (unsigned bit = 1; bit & CC_ROLE_ALL; bit <<= 1)
            if (t->roles & bit)
                json_array_append_new(roles, json_string(cc_role_name(bit)));
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
            if (t->flags & flags[i].flag)
                json_array_append_new(fl, json_string(flags[i].name));
        json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:o, s:b}", "method", t->method,
                                              "pattern", t->pattern, "roles", roles, "flags",
                                              fl, "write", s_is_write(t->method)));
    }
    json_t *doc = list ? json_pack("{s:o}", "routes", list) : NULL;
    char *text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    return text;
}

int
cc_http_set_auth(cc_http_t *self, const cc_jwks_t *keys, const cc_jwt_policy_t *policy)
{
    assert(self && policy && policy->iss && policy->aud);
    char *iss = strdup(policy->iss), *aud = strdup(policy->aud);
    if (!iss || !aud) {
        free(iss);
        free(aud);
        return -1;
    }
    if (!self->tokens && cc_sodium_init() == 0)
        self->tokens = calloc(S_TOK_SLOTS, sizeof *self->tokens);   /* NULL: no cache */
    if (self->tokens)
        memset(self->tokens, 0, S_TOK_SLOTS * sizeof *self->tokens);   /* new keys, new rules */
    free(self->iss);
    free(self->aud);
    self->iss = iss;
    self->aud = aud;
    self->skew_s = policy->skew_s;
    self->keys = keys;
    return 0;
}

int
cc_http_set_hosts(cc_http_t *self, const char *csv)
{
    assert(self);
    char def[256];
    if (!csv || !*csv) {
        snprintf(def, sizeof def, "127.0.0.1:%d,localhost:%d,%s:%d", self->port, self->port,
                 self->addr, self->port);
        csv = def;
    }
    /* ",a,b," without blanks: s_host_allowed looks for ",<host>,". */
    size_t n = strlen(csv);
    char *list = malloc(n + 3), *w = list;
    if (!list)
        return -1;
    *w++ = ',';
    for (const char *p = csv; *p; p++)
        if (*p != ' ' && *p != '\t')
            *w++ = *p;
    *w++ = ',';
    *w = '\0';
    free(self->hosts);
    self->hosts = list;
    return 0;
}

const cc_jwt_claims_t *
cc_http_claims(cc_http_req_t *req)
{
    return req && req->has_claims ? &req->claims : NULL;
}

int
cc_http_scope_district(cc_http_req_t **req_p, uint32_t district)
{
    assert(req_p && *req_p);
    const cc_jwt_claims_t *c = cc_http_claims(*req_p);
    if (!c || c->role != CC_ROLE_DISPATCHER)
        return 0;
    cc_scope_t s = { .district_id = district };
    return cc_http_scope(req_p, &s);
}

int
cc_http_scope(cc_http_req_t **req_p, const cc_scope_t *s)
{
    assert(req_p && *req_p);
    const char *field = cc_jwt_scope_check(cc_http_claims(*req_p), s);
    if (!field)
        return 0;
    char msg[96];
    snprintf(msg, sizeof msg, "this %s is outside the caller's scope", field);
    cc_http_reply_error(req_p, 403, "forbidden", field, msg);
    return -1;
}

void
cc_http_set_audit(cc_http_t *self, cc_http_audit_fn *fn, void *arg)
{
    assert(self);
    self->audit_fn = fn;
    self->audit_arg = arg;
}

void
cc_http_audit_done(cc_http_req_t *r, int ok)
{
    assert(r && r->audit == S_AUDIT_HELD);
    r->audit = S_AUDIT_DONE;
    if (ok) {
        s_finish(r, r->held_status, r->held_ctype, r->held_data, r->held_len, r->held_name,
                 r->held_value);
        return;
    }
    cc_metric_inc(cc_metrics_counter("audit_refused_total",
                                     "Requests refused because no audit row could be queued."));
    s_finish(r, 503, "application/json", s_audit_unavailable, sizeof s_audit_unavailable - 1,
             "Retry-After", "1");
}

json_t *
cc_http_audit_ids(cc_http_req_t *req)
{
    return req->ids;
}

const char *
cc_http_peer(cc_http_req_t *req)
{
    return req->peer;
}

const char *
cc_http_route_pattern(cc_http_req_t *req)
{
    return req->pattern ? req->pattern : "";
}

const char *
cc_http_request_id(cc_http_req_t *req)
{
    return req->reqid;
}

void
cc_http_set_gate(cc_http_t *self, cc_http_ready_fn *fn, void *arg)
{
    self->gate_fn = fn;
    self->gate_arg = arg;
}

void
cc_http_set_gate_error(cc_http_t *self, const char *error, const char *message)
{
    self->gate_error = error;
    self->gate_message = message ? message : "";
}

const char *
cc_http_idem_key(cc_http_req_t *req)
{
    return req ? req->idem : NULL;
}

json_t *
cc_http_json(cc_http_req_t *req)
{
    return req ? req->json : NULL;
}

const char *
cc_http_query_id(cc_http_req_t *req, const char *name, int *bad)
{
    *bad = 0;
    const char *v = cc_http_query(req, name);
    if (!v)
        return NULL;
    /* The query pairs are ours: normalise in place, once. */
    char *w = (char *) v;
    if (cc_uuid_norm(v, w) != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a UUID", name);
        cc_http_req_t *r = req;
        cc_http_reply_error(&r, 400, "invalid_value", name, msg);
        *bad = 1;
        return NULL;
    }
    return w;
}

void
cc_http_set_ready(cc_http_t *self, cc_http_ready_fn *fn, void *arg)
{
    assert(self);
    self->ready_fn = fn;
    self->ready_arg = arg;
}

void
cc_http_drain(cc_http_t *self)
{
    if (self)
        self->draining = 1;
}

void
cc_http_set_limits(cc_http_t *self, int max_open, int deadline_ms)
{
    self->max_open = max_open > 0 ? max_open : 0;
    self->deadline_us = deadline_ms > 0 ? (int64_t) deadline_ms * 1000 : 0;
}

void
cc_http_set_deadline(cc_http_req_t *req, int deadline_ms)
{
    req->deadline_us = deadline_ms > 0 ? (int64_t) deadline_ms * 1000 : 0;
}

void
cc_http_set_admit(cc_http_t *self, cc_http_admit_fn *fn, void *arg)
{
    self->admit_fn = fn;
    self->admit_arg = arg;
}

int
cc_http_pending(const cc_http_t *self)
{
    return self ? self->pending : 0;
}

const char *
cc_http_method(cc_http_req_t *req)
{
    return req ? req->method : NULL;
}

const char *
cc_http_path_param(cc_http_req_t *req, const char *name)
{
    for (int i = 0; req && name && i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

/* Parse "a=1&b=x%20y&c" into decoded pairs ('+' is a space, a name without
 * '=' has value ""). Pairs with undecodable text (NUL) are skipped. */
static void
s_parse_query(cc_http_req_t *req)
{
    req->query_parsed = 1;
    if (!req->query_raw || !*req->query_raw)
        return;
    req->query = calloc(S_MAX_QUERY, sizeof *req->query);
    char *buf = strdup(req->query_raw);
    if (!req->query || !buf) {
        free(buf);
        return;
    }
    char *save = NULL;
    for (char *part = strtok_r(buf, "&", &save); part && req->nquery < S_MAX_QUERY;
         part = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(part, '=');
        if (eq)
            *eq = '\0';
        size_t nlen = 0, vlen = 0;
        char *name = evhttp_uridecode(part, 1, &nlen);
        char *value = evhttp_uridecode(eq ? eq + 1 : "", 1, &vlen);
        if (!name || !value || strlen(name) != nlen || strlen(value) != vlen || !*name) {
            free(name);
            free(value);
            continue;
        }
        req->query[req->nquery].name = name;
        req->query[req->nquery].value = value;
        req->nquery++;
    }
    free(buf);
}

const char *
cc_http_query(cc_http_req_t *req, const char *name)
{
    if (!req || !name)
        return NULL;
    if (!req->query_parsed)
        s_parse_query(req);
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

const char *
cc_http_header(cc_http_req_t *req, const char *name)
{
    for (int i = 0; req && name && i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *
cc_http_body(cc_http_req_t *req, size_t *len)
{
    if (len)
        *len = req && req->body ? req->body_len : 0;
    return req && req->body ? req->body : "";
}

json_t *
cc_http_json_body(cc_http_req_t *req)
{
    assert(req);
    cc_http_req_t *r = req;
    if (!req->body || req->body_len == 0) {
        cc_http_reply_error(&r, 400, "invalid_json", NULL, "request body is empty");
        return NULL;
    }
    json_error_t jerr;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        char msg[192];
        snprintf(msg, sizeof msg, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        cc_http_reply_error(&r, 400, "invalid_json", NULL, msg);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        cc_http_reply_error(&r, 400, "not_an_object", NULL, "request body must be a JSON object");
        return NULL;
    }
    return o;
}

double
cc_http_age_s(cc_http_req_t *req)
{
    return req ? (double) (cc_mono_us() - req->start_us) / CC_US_PER_S : 0.0;
}

void
cc_http_reply_json(cc_http_req_t **req_p, int status, json_t *body)
{
    assert(req_p && *req_p);
    cc_http_req_t *r = *req_p;
    *req_p = NULL;
    s_reply_json_ex(r, status, body, NULL, NULL);
}

void
cc_http_reply_text(cc_http_req_t **req_p, int status, const char *ctype, const char *text)
{
    assert(req_p && *req_p);
    cc_http_req_t *r = *req_p;
    *req_p = NULL;
    s_finish(r, status, ctype ? ctype : "text/plain; charset=utf-8", text ? text : "",
             text ? strlen(text) : 0, NULL, NULL);
}

void
cc_http_reply_error(cc_http_req_t **req_p, int status, const char *error, const char *field,
                    const char *message)
{
    assert(req_p && *req_p);
    cc_http_req_t *r = *req_p;
    *req_p = NULL;
    s_error_ex(r, status, error, field, message, NULL, NULL);
}

void
cc_http_reply_err(cc_http_req_t **req_p, const cc_err_t *err)
{
    if (!err) {
        cc_http_reply_error(req_p, 500, "internal", NULL, "unspecified error");
        return;
    }
    cc_http_reply_error(req_p, err->status ? err->status : 400, err->error, err->field,
                        err->message);
}

void
cc_http_reply_json_hdr(cc_http_req_t **req_p, int status, json_t *body, const char *name,
                       const char *value)
{
    assert(req_p && *req_p);
    cc_http_req_t *r = *req_p;
    *req_p = NULL;
    s_reply_json_ex(r, status, body, name, value);
}

void
cc_http_reply_error_hdr(cc_http_req_t **req_p, int status, const char *error,
                        const char *field, const char *message, const char *name,
                        const char *value)
{
    assert(req_p && *req_p);
    cc_http_req_t *r = *req_p;
    *req_p = NULL;
    s_error_ex(r, status, error, field, message, name, value);
}

void
cc_http_set_bulk_body(cc_http_t *self, size_t max)
{
    self->bulk_body = max;
    size_t cap = s_body_cap(self);
    size_t hard = cap <= (SIZE_MAX - 65536) / 2 ? cap * 2 + 65536 : cap;
    if (hard > (size_t) INT64_MAX)
        hard = (size_t) INT64_MAX;
    evhttp_set_max_body_size(self->http, (ev_ssize_t) hard);
}
