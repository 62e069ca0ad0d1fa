/* cc_zsock: a ZeroMQ socket on a libevent loop. See cc_zsock.h. */
#include "cc_zsock.h"
#include "cc_log.h"
#include "cc_metrics.h"

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
};

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
            self->fn(self, frames, lens, n, self->arg);
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
    return 0;
}

const char *cc_zsock_endpoint(const cc_zsock_t *self)
{
    return self->endpoint;
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
