/* cc_zsock: a ZeroMQ socket on a libevent loop. See cc_zsock.h. */
#include "cc_zsock.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <event2/event.h>

/* Messages read per wake-up before yielding to the loop: keeps one busy
 * socket from starving HTTP and the database. */
#define S_DRAIN_BUDGET 256

struct cc_zsock {
    void *zsock;               /* the ZeroMQ socket, owned */
    struct event *ev_read;     /* persistent EV_READ on ZMQ_FD; also activated by hand */
    cc_zsock_fn *fn;           /* message handler */
    void *arg;                 /* handler argument */
    char name[48];             /* metrics label */
    char endpoint[256];        /* last bound/connected endpoint */
    cc_metric_t *m_in;         /* messages received */
    cc_metric_t *m_out;        /* messages sent */
    cc_metric_t *m_dropped;    /* sends that would block or failed */
    cc_metric_t *m_rejected;   /* inbound messages with too many frames */
    struct event_base *base;   /* borrowed: for the monitor */
    void *zctx;                /* borrowed: for the monitor */
    cc_zsock_t *monitor;       /* PAIR reading our handshake failures (CURVE), owned */
    cc_metric_t *m_handshake;  /* handshakes failed on our side */
    int64_t last_log_us;       /* rate limit of handshake failure lines */
    int64_t unlogged;          /* failures since the last line */
    zmq_msg_t *cur;            /* last frame of the message being handled, or NULL */
};

/* One line a second at most per socket: a peer retrying a bad handshake
 * every reconnect interval must not fill the log. */
#define S_LOG_EVERY_US 1000000

static void s_drain(cc_zsock_t *self);

static void s_on_fd(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_drain((cc_zsock_t *) arg);
}

static int s_readable(cc_zsock_t *self)
{
    int events = 0;
    size_t sz = sizeof events;
    if (zmq_getsockopt(self->zsock, ZMQ_EVENTS, &events, &sz) != 0)
        return 0;
    return (events & ZMQ_POLLIN) != 0;
}

/* Read whole multipart messages while ZMQ_EVENTS says POLLIN, up to a
 * budget; if input remains, activate ourselves so the loop comes back. */
static void s_drain(cc_zsock_t *self)
{
    int budget = S_DRAIN_BUDGET;
    while (budget-- > 0 && s_readable(self)) {
        zmq_msg_t parts[CC_ZSOCK_MAX_FRAMES];
        const void *frames[CC_ZSOCK_MAX_FRAMES];
        size_t lens[CC_ZSOCK_MAX_FRAMES];
        int n = 0, too_many = 0, failed = 0;
        int more = 1;
        while (more) {
            zmq_msg_t tmp;
            zmq_msg_t *m = n < CC_ZSOCK_MAX_FRAMES ? &parts[n] : &tmp;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->zsock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(m);
                failed = 1;
                break;
            }
            more = zmq_msg_more(m);
            if (n < CC_ZSOCK_MAX_FRAMES) {
                frames[n] = zmq_msg_data(m);
                lens[n] = zmq_msg_size(m);
                n++;
            } else {
                too_many = 1;
                zmq_msg_close(m);
            }
        }
        if (!failed && !too_many) {
            cc_metric_inc(self->m_in);
            self->cur = &parts[n - 1];   /* a frame from the wire: it has the metadata */
            self->fn(self, frames, lens, n, self->arg);
            self->cur = NULL;
        } else if (too_many) {
            cc_metric_inc(self->m_rejected);
            cc_warn("zmq_rejected", "socket", self->name, "reason", "too_many_frames");
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
    /* Edge-triggered fd: if we stopped with input pending, nobody will wake
     * us; schedule another pass ourselves. */
    if (s_readable(self))
        event_active(self->ev_read, EV_READ, 0);
}

cc_zsock_t *cc_zsock_new(struct event_base *base, void *zctx, int type, int64_t maxmsgsize,
                         const char *name, cc_zsock_fn *fn, void *arg)
{
    cc_zsock_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fn = fn;
    self->arg = arg;
    self->base = base;
    self->zctx = zctx;
    snprintf(self->name, sizeof self->name, "%s", name ? name : "zmq");
    self->zsock = zmq_socket(zctx, type);
    if (!self->zsock) {
        free(self);
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(self->zsock, ZMQ_LINGER, &linger, sizeof linger);
    if (maxmsgsize > 0)
        zmq_setsockopt(self->zsock, ZMQ_MAXMSGSIZE, &maxmsgsize, sizeof maxmsgsize);
    if (type == ZMQ_ROUTER) {
        /* Replies to a vanished peer fail instead of being silently dropped,
         * so they are counted. */
        int on = 1;
        zmq_setsockopt(self->zsock, ZMQ_ROUTER_MANDATORY, &on, sizeof on);
    }
    int fd = -1;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(self->zsock, ZMQ_FD, &fd, &sz) != 0) {
        zmq_close(self->zsock);
        free(self);
        return NULL;
    }
    self->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, s_on_fd, self);
    if (!self->ev_read || event_add(self->ev_read, NULL) != 0) {
        if (self->ev_read)
            event_free(self->ev_read);
        zmq_close(self->zsock);
        free(self);
        return NULL;
    }
    char mname[160];
    snprintf(mname, sizeof mname, "zmq_messages_in_total{socket=\"%s\"}", self->name);
    self->m_in = cc_metrics_counter(mname, "ZeroMQ messages received");
    snprintf(mname, sizeof mname, "zmq_messages_out_total{socket=\"%s\"}", self->name);
    self->m_out = cc_metrics_counter(mname, "ZeroMQ messages sent");
    snprintf(mname, sizeof mname, "zmq_send_dropped_total{socket=\"%s\"}", self->name);
    self->m_dropped = cc_metrics_counter(mname, "ZeroMQ sends dropped (would block or failed)");
    snprintf(mname, sizeof mname, "zmq_rejected_total{socket=\"%s\",reason=\"frames\"}",
             self->name);
    self->m_rejected = cc_metrics_counter(mname, "ZeroMQ messages rejected");
    return self;
}

void cc_zsock_destroy(cc_zsock_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_zsock_t *self = *self_p;
    if (self->monitor) {
        zmq_socket_monitor(self->zsock, NULL, 0);
        cc_zsock_destroy(&self->monitor);
    }
    event_free(self->ev_read);
    zmq_close(self->zsock);
    free(self);
    *self_p = NULL;
}

int cc_zsock_bind(cc_zsock_t *self, const char *endpoint)
{
    if (zmq_bind(self->zsock, endpoint) != 0) {
        cc_error("zmq_bind_failed", "socket", self->name, "endpoint", endpoint,
                 "error", zmq_strerror(zmq_errno()));
        return -1;
    }
    size_t sz = sizeof self->endpoint;
    if (zmq_getsockopt(self->zsock, ZMQ_LAST_ENDPOINT, self->endpoint, &sz) != 0)
        snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    /* A socket that only ever receives (a monitor PAIR) must read
     * ZMQ_EVENTS once: until it has, libzmq takes its pipe for active and
     * never signals ZMQ_FD for the first message (edge-triggered). */
    if (s_readable(self))
        event_active(self->ev_read, EV_READ, 0);
    return 0;
}

int cc_zsock_connect(cc_zsock_t *self, const char *endpoint)
{
    if (zmq_connect(self->zsock, endpoint) != 0) {
        cc_error("zmq_connect_failed", "socket", self->name, "endpoint", endpoint,
                 "error", zmq_strerror(zmq_errno()));
        return -1;
    }
    snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    /* A socket that only ever receives (a monitor PAIR) must read
     * ZMQ_EVENTS once: until it has, libzmq takes its pipe for active and
     * never signals ZMQ_FD for the first message (edge-triggered). */
    if (s_readable(self))
        event_active(self->ev_read, EV_READ, 0);
    return 0;
}

const char *cc_zsock_endpoint(const cc_zsock_t *self)
{
    return self->endpoint;
}

const char *cc_zsock_name(const cc_zsock_t *self)
{
    return self->name;
}

void *cc_zsock_raw(cc_zsock_t *self)
{
    return self->zsock;
}

int cc_zsock_sendv(cc_zsock_t *self, const void *const *frames, const size_t *lens, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(self->zsock, frames[i], lens[i], flags) < 0) {
            /* A failure on the first frame sends nothing; later frames of a
             * multipart message cannot fail once the first was queued. */
            rc = -1;
            break;
        }
    }
    if (rc == 0)
        cc_metric_inc(self->m_out);
    else
        cc_metric_inc(self->m_dropped);
    /* A send can consume the edge that signalled pending input:
     * zmq_getsockopt(3) says re-check ZMQ_EVENTS after every send. */
    if (s_readable(self))
        event_active(self->ev_read, EV_READ, 0);
    return rc;
}

/* ---- CURVE -------------------------------------------------------------- */

static const char *s_failure(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            return "mechanism_mismatch";   /* a peer without CURVE */
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            return "cryptographic";        /* wrong keys */
        return "protocol";
    }
    return "no_detail";   /* the peer dropped us mid-handshake: e.g. a wrong server */
}

/* Monitor events: frame 0 is a 16-bit event and a 32-bit value, host order
 * (zmq_socket_monitor(3)); frame 1 the endpoint. */
static void s_on_monitor(cc_zsock_t *mon, const void *const *frames, const size_t *lens, int n,
                         void *arg)
{
    (void) mon;
    cc_zsock_t *self = arg;
    if (n < 1 || lens[0] != 6)
        return;
    uint16_t event;
    uint32_t value;
    memcpy(&event, frames[0], sizeof event);
    memcpy(&value, (const char *) frames[0] + 2, sizeof value);
    if (!(event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)))
        return;
    cc_metric_inc(self->m_handshake);
    int64_t now = cc_mono_us();
    if (self->last_log_us && now - self->last_log_us < S_LOG_EVERY_US) {
        self->unlogged++;
        return;
    }
    char more[24];
    snprintf(more, sizeof more, "%lld", (long long) self->unlogged);
    cc_warn("zmq_auth_rejected", "socket", self->name, "reason", "handshake",
            "detail", s_failure(event, value), "unlogged", more);
    self->last_log_us = now;
    self->unlogged = 0;
}

static int s_watch_handshakes(cc_zsock_t *self)
{
    if (self->monitor)
        return 0;
    char mname[160];
    snprintf(mname, sizeof mname, "zmq_auth_rejected_total{socket=\"%s\",reason=\"handshake\"}",
             self->name);
    self->m_handshake = cc_metrics_counter(mname, "ZeroMQ peers refused at the handshake");
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://cc-monitor-%p", (void *) self);
    if (zmq_socket_monitor(self->zsock, ep, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
        return -1;
    char name[64];
    snprintf(name, sizeof name, "%s-monitor", self->name);
    self->monitor = cc_zsock_new(self->base, self->zctx, ZMQ_PAIR, 0, name, s_on_monitor, self);
    if (!self->monitor || cc_zsock_connect(self->monitor, ep) != 0) {
        zmq_socket_monitor(self->zsock, NULL, 0);
        cc_zsock_destroy(&self->monitor);
        return -1;
    }
    return 0;
}

static int s_setopt(cc_zsock_t *self, int opt, const void *v, size_t len)
{
    if (zmq_setsockopt(self->zsock, opt, v, len) != 0) {
        cc_error("zmq_curve_failed", "socket", self->name, "error", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int cc_zsock_curve_server(cc_zsock_t *self, const char *secret_key)
{
    int on = 1;
    if (!secret_key || strlen(secret_key) != 40 ||
        s_setopt(self, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
        s_setopt(self, ZMQ_CURVE_SECRETKEY, secret_key, 40) != 0 ||
        s_setopt(self, ZMQ_ZAP_DOMAIN, self->name, strlen(self->name)) != 0 ||
        s_watch_handshakes(self) != 0) {
        cc_error("zmq_curve_failed", "socket", self->name);
        return -1;
    }
    return 0;
}

int cc_zsock_curve_client(cc_zsock_t *self, const char *public_key, const char *secret_key,
                          const char *server_key)
{
    if (!public_key || !secret_key || !server_key || strlen(public_key) != 40 ||
        strlen(secret_key) != 40 || strlen(server_key) != 40 ||
        s_setopt(self, ZMQ_CURVE_SERVERKEY, server_key, 40) != 0 ||
        s_setopt(self, ZMQ_CURVE_PUBLICKEY, public_key, 40) != 0 ||
        s_setopt(self, ZMQ_CURVE_SECRETKEY, secret_key, 40) != 0 ||
        s_watch_handshakes(self) != 0) {
        cc_error("zmq_curve_failed", "socket", self->name);
        return -1;
    }
    return 0;
}

double cc_zsock_handshake_failures(const cc_zsock_t *self)
{
    return self->m_handshake ? cc_metric_value(self->m_handshake) : 0;
}

const char *cc_zsock_user_id(const cc_zsock_t *self)
{
    if (!self->cur)
        return NULL;
    const char *who = zmq_msg_gets(self->cur, "User-Id");
    return who && *who ? who : NULL;
}
