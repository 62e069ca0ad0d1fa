/* od_notify: see od_notify.h. */
#include "od_notify.h"
#include "od_alarm.h"
#include "od_pii.h"
#include "od_store.h"
#include "cc_log.h"
#include "cc_rt.h"
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BATCH 16                 /* rows claimed at a time */
#define S_TICK_MS 250              /* due rows looked for this often */
#define S_BACKOFF_CAP_MS 60000

enum { S_SENT, S_RETRY, S_FAILED, S_OUTCOMES };
static const char *const s_outcome_names[S_OUTCOMES] = { "sent", "retry", "failed" };

typedef struct s_send s_send_t;

struct od_notify {
    od_app_t *app;
    struct evhttp_uri *uri;        /* --notify-url, parsed */
    char host_header[300];         /* Host: host[:port] */
    struct evhttp_connection *conn;/* one keep-alive connection; requests queue on it */
    struct event *ev_tick;
    int claiming;                  /* a claim is queued on the writer */
    int stopped;
    s_send_t *inflight;            /* sends waiting for the gateway */
    cc_metric_t *m_outcome[S_OUTCOMES];
};

struct s_send {
    od_notify_t *self;
    char id[CC_UUID_LEN];
    int64_t attempts;              /* counting this one */
    const char *error;             /* set by the error callback: timeout, refused ... */
    s_send_t *next;
};

int64_t od_notify_backoff_ms(int64_t attempts, int64_t base_ms)
{
    if (attempts < 1)
        attempts = 1;
    int64_t ms = base_ms < 1 ? 1 : base_ms;
    for (int64_t i = 1; i < attempts && ms < S_BACKOFF_CAP_MS; i++)
        ms *= 2;
    return ms > S_BACKOFF_CAP_MS ? S_BACKOFF_CAP_MS : ms;
}

static void s_unlink(od_notify_t *self, s_send_t *s)
{
    for (s_send_t **pp = &self->inflight; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

static void s_on_result(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    (void)od_app_write_ok(app, "od_notify_result", res, NULL);   /* logged; lease retries */
}

/* Record one send's outcome. retry_ms > 0: again after that; 0: final. */
static void s_record(od_notify_t *self, const s_send_t *s, int ok, const char *message_id,
                     const char *error, int64_t retry_ms)
{
    od_app_t *app = self->app;
    int outcome = ok ? S_SENT : retry_ms > 0 ? S_RETRY : S_FAILED;
    cc_metric_inc(self->m_outcome[outcome]);
    char att[24];
    snprintf(att, sizeof att, "%lld", (long long)s->attempts);
    if (ok)
        cc_info("notification_sent", "notification_id", s->id, "attempt", att);
    else
        cc_warn("notification_failed", "notification_id", s->id, "attempt", att, "error",
                error, "retry", retry_ms > 0 ? "yes" : "no");
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_NOTIFY_RESULT]);
    cc_args_text(&a, "id", s->id);
    cc_args_bool(&a, "ok", ok);
    cc_args_text(&a, "message_id", message_id);
    cc_args_text(&a, "error", error);
    cc_args_int(&a, "retry_ms", retry_ms);
    if (cc_db_call(app->rt.writer, &a, s_on_result, app) != 0) {
        cc_error("db_queue_failed", "what", "od_notify_result");
        exit(1);
    }
}

static void s_on_error(enum evhttp_request_error e, void *arg)
{
    s_send_t *s = arg;
    s->error = e == EVREQ_HTTP_TIMEOUT ? "timeout" : e == EVREQ_HTTP_EOF ? "connection_closed"
               : e == EVREQ_HTTP_INVALID_HEADER ? "invalid_response"
               : e == EVREQ_HTTP_BUFFER_ERROR ? "connection_failed" : "request_failed";
}

/* The gateway's answer. A NULL request or code 0: no answer at all
 * (refused, timed out, reset). */
static void s_on_response(struct evhttp_request *req, void *arg)
{
    s_send_t *s = arg;
    od_notify_t *self = s->self;
    s_unlink(self, s);
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char message_id[129] = "";
    if (code >= 200 && code < 300) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = in ? evbuffer_get_length(in) : 0;
        if (n > 0 && n < 8192) {
            char buf[8192];
            evbuffer_copyout(in, buf, n);
            json_t *j = json_loadb(buf, n, 0, NULL);
            const char *m = j ? json_string_value(json_object_get(j, "message_id")) : NULL;
            if (m)
                snprintf(message_id, sizeof message_id, "%s", m);
            json_decref(j);
        }
        s_record(self, s, 1, message_id, NULL, 0);
    } else {
        char err[48];
        if (code)
            snprintf(err, sizeof err, "http_%d", code);
        else
            snprintf(err, sizeof err, "%s", s->error ? s->error : "connection_failed");
        /* A 4xx other than 429 will not get better by asking again. */
        int retry = code == 0 || code >= 500 || code == 429;
        int64_t ms = retry && s->attempts < self->app->notify_max_attempts
                         ? od_notify_backoff_ms(s->attempts, self->app->notify_backoff_ms)
                         : 0;
        s_record(self, s, 0, NULL, err, ms);
    }
    free(s);
}

/* Send one claimed row: the body carries the phone (opened here, wiped
 * after) and what the gateway needs to say, nothing else. */
static void s_send(od_notify_t *self, PGresult *res, int r)
{
    od_app_t *app = self->app;
    s_send_t *s = cc_xcalloc(sizeof *s, "notify");
    s->self = self;
    snprintf(s->id, sizeof s->id, "%s", PQgetvalue(res, r, 0));
    s->attempts = strtoll(PQgetvalue(res, r, 3), NULL, 10);
    const char *contact = PQgetvalue(res, r, 2);
    size_t plen = 0;   /* bytea comes as text (hex) in a text-format result */
    unsigned char *penc = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 8), &plen);
    char *phone = app->pii && penc ? od_pii_open(app->pii, contact, "contact_phone", penc,
                                                        plen) : NULL;
    PQfreemem(penc);
    if (!phone) {
        /* Never sendable: the contact's phone does not open (wrong key, or
         * sealed for another row). Failed, named by ids only. */
        cc_warn("pii_open_failed", "contact_id", contact, "column", "phone");
        s_record(self, s, 0, NULL, "phone_unreadable", 0);
        free(s);
        return;
    }
    char receipt[96];
    snprintf(receipt, sizeof receipt, "/v1/notifications/%s/receipt", s->id);
    json_t *body = json_object();
    json_object_set_new(body, "notification_id", json_string(s->id));
    json_object_set_new(body, "alarm_id", json_string(PQgetvalue(res, r, 1)));
    json_object_set_new(body, "order_id", json_string(PQgetvalue(res, r, 9)));
    json_object_set_new(body, "elder_id", json_string(PQgetvalue(res, r, 5)));
    json_object_set_new(body, "district_id", json_integer(atoi(PQgetvalue(res, r, 6))));
    json_object_set_new(body, "kind", json_string(PQgetvalue(res, r, 4)));
    json_object_set_new(body, "relation", json_string(PQgetvalue(res, r, 7)));
    json_object_set_new(body, "to", json_string(phone));
    json_object_set_new(body, "attempt", json_integer(s->attempts));
    json_object_set_new(body, "receipt_path", json_string(receipt));
    char *text = json_dumps(body, JSON_COMPACT);
    /* The phone lives on in the body only (jansson's copy is wiped below). */
    json_t *to = json_object_get(body, "to");
    if (to && json_string_value(to))
        sodium_memzero((void *)json_string_value(to), strlen(json_string_value(to)));
    json_decref(body);
    sodium_memzero(phone, strlen(phone));
    free(phone);
    if (!text) {
        cc_error("out_of_memory", "what", "notify");
        exit(1);
    }
    struct evhttp_request *req = evhttp_request_new(s_on_response, s);
    if (!req) {
        cc_error("out_of_memory", "what", "notify");
        exit(1);
    }
    evhttp_request_set_error_cb(req, s_on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", self->host_header);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
    sodium_memzero(text, strlen(text));
    free(text);
    const char *path = evhttp_uri_get_path(self->uri);
    s->next = self->inflight;
    self->inflight = s;
    if (evhttp_make_request(self->conn, req, EVHTTP_REQ_POST, path && *path ? path : "/") != 0) {
        /* libevent freed the request: record a failed attempt ourselves. */
        s_unlink(self, s);
        s_record(self, s, 0, NULL, "request_failed",
                 od_notify_backoff_ms(s->attempts, app->notify_backoff_ms));
        free(s);
    }
}

static void s_on_claimed(PGresult *res, void *arg)
{
    od_notify_t *self = arg;
    self->claiming = 0;
    if (od_app_write_ok(self->app, "od_notify_claim", res, NULL) != 0)
        return;   /* the next tick tries again */
    for (int r = 0; r < PQntuples(res); r++)
        if (!self->stopped)
            s_send(self, res, r);
}

static void s_claim(od_notify_t *self)
{
    od_app_t *app = self->app;
    if (self->stopped || self->claiming || !app->rt.loaded || app->rt.stopping)
        return;
    /* The lease covers a send and its answer: a row claimed by a process
     * that died is sent again once it runs out. */
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_NOTIFY_CLAIM]);
    cc_args_int(&a, "limit", S_BATCH);
    cc_args_int(&a, "lease_s", app->notify_timeout_s + 5);
    self->claiming = 1;
    if (cc_db_call(app->rt.writer, &a, s_on_claimed, self) != 0) {
        cc_error("db_queue_failed", "what", "od_notify_claim");
        exit(1);
    }
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_claim(arg);
}

void od_notify_kick(od_notify_t *self)
{
    if (self)
        s_claim(self);
}

od_notify_t *od_notify_new(od_app_t *app, const char *url)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    if (!uri || !scheme || strcmp(scheme, "http") != 0 || !host || !*host) {
        if (uri)
            evhttp_uri_free(uri);
        return NULL;
    }
    od_notify_t *self = cc_xcalloc(sizeof *self, "notify");
    self->app = app;
    self->uri = uri;
    int port = evhttp_uri_get_port(uri);
    if (port < 0)
        port = 80;
    if (port == 80)
        snprintf(self->host_header, sizeof self->host_header, "%s", host);
    else
        snprintf(self->host_header, sizeof self->host_header, "%s:%d", host, port);
    self->conn = evhttp_connection_base_new(app->rt.base, NULL, host, (unsigned short)port);
    if (!self->conn) {
        evhttp_uri_free(uri);
        free(self);
        return NULL;
    }
    evhttp_connection_set_timeout(self->conn, (int)app->notify_timeout_s);
    evhttp_connection_set_retries(self->conn, 0);   /* our backoff decides */
    for (int i = 0; i < S_OUTCOMES; i++) {
        char name[96];
        snprintf(name, sizeof name, "orderd_notifications_total{outcome=\"%s\"}",
                 s_outcome_names[i]);
        self->m_outcome[i] = cc_metrics_counter(name, "Notification attempts, by outcome");
    }
    self->ev_tick = event_new(app->rt.base, -1, EV_PERSIST, s_on_tick, self);
    struct timeval tv = { 0, S_TICK_MS * 1000 };
    if (!self->ev_tick || event_add(self->ev_tick, &tv) != 0) {
        od_notify_destroy(&self);
        return NULL;
    }
    return self;
}

void od_notify_stop(od_notify_t *self)
{
    if (!self)
        return;
    self->stopped = 1;
    if (self->ev_tick)
        event_del(self->ev_tick);
}

void od_notify_destroy(od_notify_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    od_notify_t *self = *self_p;
    *self_p = NULL;
    self->stopped = 1;
    if (self->ev_tick)
        event_free(self->ev_tick);
    /* Sends still waiting: their rows stay claimed until the lease runs
     * out, then the next process sends them. Their callbacks must not run
     * into freed memory: drop them from the list first. */
    s_send_t *s = self->inflight;
    self->inflight = NULL;
    if (self->conn)
        evhttp_connection_free(self->conn);
    while (s) {
        s_send_t *next = s->next;
        free(s);
        s = next;
    }
    evhttp_uri_free(self->uri);
    free(self);
}
