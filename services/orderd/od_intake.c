/* od_intake: the ZeroMQ ROUTER for telephony/CTI systems. A request is
 * [identity, Envelope{type="PlaceOrder"}] from a DEALER, or
 * [identity, "", Envelope] from a REQ; the reply mirrors the shape with
 * Envelope{type="PlaceOrderReply", id=request id} after the order commits.
 *
 * Rejections are counted as zmq_rejected_total{reason=...} and logged
 * without payload: garbage (no envelope) and oversize frames are dropped;
 * a parsed envelope of the wrong type or with a bad PlaceOrder is answered
 * with status 400; over the bounds (cc_rt_admit_write, --max-requests in
 * flight) with status 503 "overloaded". libzmq's own ZMQ_MAXMSGSIZE is set at a hard cap above
 * our 64 KiB policy so that an oversize frame reaches us to be counted
 * (beyond the hard cap libzmq disconnects the peer unseen). */
#include "od_intake.h"
#include "cc_time.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_zsock.h"
#include <zmq.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define S_POLICY_MAX (64 * 1024)          /* CC_EVLOG_MAX_REQUEST */
#define S_HARD_MAX (1024 * 1024)

struct od_intake {
    od_app_t *app;
    cc_zsock_t *router;
    int live;                             /* replies still pending */
    int closing;
    cc_metric_t *m_garbage, *m_oversize, *m_type, *m_invalid, *m_frames, *m_latency;
    cc_metric_t *m_overloaded;
};

typedef struct {
    od_intake_t *self;
    uint8_t ident[256];                   /* ROUTER identity (<= 255 bytes) */
    size_t ident_len;
    int req_shape;                        /* REQ peer: empty delimiter frame */
    char id[64];                          /* request envelope id, echoed */
    int64_t t0_us;
} s_pending_t;

static void s_send_reply(s_pending_t *p, int status, const char *order_id, const char *state,
                         const char *error, const char *field)
{
    Cc__PlaceOrderReply r = CC__PLACE_ORDER_REPLY__INIT;
    r.status = status;
    r.order_id = (char *)(order_id ? order_id : "");
    r.state = (char *)(state ? state : "");
    r.error = (char *)(error ? error : "");
    r.field = (char *)(field ? field : "");
    size_t ilen = 0, len = 0;
    uint8_t *inner = cc_pb_pack(&r.base, &ilen);
    if (!inner)
        return;
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "PlaceOrderReply";
    env.id = p->id;
    env.producer = "orderd";
    env.time_us = cc_now_us();
    env.key = (char *)(order_id ? order_id : "");
    env.payload.data = inner;
    env.payload.len = ilen;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    free(inner);
    if (!out)
        return;
    const void *frames[3];
    size_t lens[3];
    int n = 0;
    frames[n] = p->ident;
    lens[n++] = p->ident_len;
    if (p->req_shape) {
        frames[n] = "";
        lens[n++] = 0;
    }
    frames[n] = out;
    lens[n++] = len;
    if (p->self->router && cc_zsock_sendv(p->self->router, frames, lens, n) != 0)
        cc_warn("intake_reply_dropped", "reason", "would_block");
    free(out);
}

static void s_on_placed(void *ctx, int status, const char *order_id, const char *state,
                        const cc_err_t *err)
{
    s_pending_t *p = ctx;
    od_intake_t *self = p->self;
    cc_metric_observe(self->m_latency, (double)(cc_now_us() - p->t0_us) / CC_US_PER_S);
    if (status >= 400) {
        /* The key is a header over HTTP, a field here: name it as such. */
        const char *field = err ? err->field : NULL;
        if (field && strcmp(field, "Idempotency-Key") == 0)
            field = "idempotency_key";
        s_send_reply(p, status, NULL, NULL, err ? err->error : "rejected", field);
    }
    else
        s_send_reply(p, status, order_id, state, NULL, NULL);
    self->live--;
    free(p);
    if (self->closing && self->live == 0)
        free(self);
}

static void s_reject(od_intake_t *self, cc_metric_t *m, const char *reason)
{
    cc_metric_inc(m);
    cc_warn("zmq_rejected", "socket", "orderd-intake", "reason", reason);
    (void)self;
}

static void s_on_msg(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                     void *arg)
{
    (void)sock;
    od_intake_t *self = arg;
    /* [ident, env] (DEALER) or [ident, "", env] (REQ). */
    if (n < 2 || n > 3 || (n == 3 && lens[1] != 0) || lens[0] == 0 || lens[0] > 255) {
        s_reject(self, self->m_frames, "frames");
        return;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += lens[i];
    const void *body = frames[n - 1];
    size_t blen = lens[n - 1];
    if (blen > S_POLICY_MAX || total > S_POLICY_MAX + 512) {
        s_reject(self, self->m_oversize, "oversize");
        return;
    }
    Cc__Envelope *env = cc__envelope__unpack(NULL, blen, body);
    if (!env) {
        s_reject(self, self->m_garbage, "garbage");
        return;
    }
    s_pending_t *p = calloc(1, sizeof *p);
    if (!p) {
        cc__envelope__free_unpacked(env, NULL);
        return;
    }
    p->self = self;
    memcpy(p->ident, frames[0], lens[0]);
    p->ident_len = lens[0];
    p->req_shape = n == 3;
    snprintf(p->id, sizeof p->id, "%s", env->id);
    p->t0_us = cc_now_us();

    if (strcmp(env->type, "PlaceOrder") != 0) {
        s_reject(self, self->m_type, "wrong_type");
        s_send_reply(p, 400, NULL, NULL, "unknown_type", "type");
        free(p);
        cc__envelope__free_unpacked(env, NULL);
        return;
    }
    Cc__PlaceOrder *po = cc__place_order__unpack(NULL, env->payload.len, env->payload.data);
    cc__envelope__free_unpacked(env, NULL);
    if (!po) {
        s_reject(self, self->m_garbage, "bad_payload");
        s_send_reply(p, 400, NULL, NULL, "malformed_payload", "payload");
        free(p);
        return;
    }
    od_order_req_t r;
    memset(&r, 0, sizeof r);
    cc_err_t err;
    int bad = 0;
    if (strlen(po->idempotency_key) > OD_KEY_MAX) {
        cc_err_set(&err, 400, "invalid_value", "idempotency_key", "longer than 128 characters");
        bad = 1;
    } else if (strlen(po->card_id) >= sizeof r.card_id) {
        cc_err_set(&err, 400, "invalid_value", "card_id", "card_id must be a UUID");
        bad = 1;
    } else if (strlen(po->notes) > OD_NOTES_MAX_BYTES) {
        cc_err_set(&err, 400, "invalid_value", "notes", "notes are too long");
        bad = 1;
    } else if (!cc_utf8_ok((const unsigned char *)po->idempotency_key)) {
        /* protobuf-c does not check strings; HTTP's come through jansson,
         * which does. Text that is not UTF-8 the store refuses anyway, and
         * in a gathered statement it would fail every row of it. */
        cc_err_set(&err, 400, "invalid_value", "idempotency_key", "must be UTF-8");
        bad = 1;
    } else if (!cc_utf8_ok((const unsigned char *)po->notes)) {
        cc_err_set(&err, 400, "invalid_value", "notes", "notes must be UTF-8");
        bad = 1;
    } else {
        snprintf(r.key, sizeof r.key, "%s", po->idempotency_key);
        snprintf(r.card_id, sizeof r.card_id, "%s", po->card_id);
        snprintf(r.notes, sizeof r.notes, "%s", po->notes);
        r.service = (int)po->service;
        r.window_start_us = po->window_start_us;
        r.window_end_us = po->window_end_us;
        int64_t now = cc_now_us();
        if (r.service == CC__SERVICE__EMERGENCY && r.window_start_us == 0 &&
            r.window_end_us == 0) {
            r.window_start_us = now;
            r.window_end_us = now + OD_EMERGENCY_WINDOW_US;
        }
        if (od_order_req_check(&r, now, &err) != 0)
            bad = 1;
        if (bad && strcmp(err.field, "Idempotency-Key") == 0)
            snprintf(err.field, sizeof err.field, "idempotency_key");
    }
    cc__place_order__free_unpacked(po, NULL);
    if (bad) {
        /* The field's name, never its value (which may be personal data). */
        cc_metric_inc(self->m_invalid);
        cc_warn("zmq_rejected", "socket", "orderd-intake", "reason", "invalid", "field", err.field);
        od_app_count_invalid();
        s_send_reply(p, err.status, NULL, NULL, err.error, err.field);
        free(p);
        return;
    }
    if (!self->app->rt.loaded || self->app->rt.stopping) {
        s_send_reply(p, 503, NULL, NULL, "not_ready", NULL);
        free(p);
        return;
    }
    /* Back-pressure as over HTTP: placements in flight are at most
     * --max-requests, and none is taken while the writer is behind. The
     * reply says 503 so the caller retries later with the same key. */
    const char *why = cc_rt_admit_write(&self->app->rt);
    if (!why && self->live >= self->app->rt.max_requests)
        why = "open_requests";
    if (why) {
        cc_metric_inc(self->m_overloaded);
        cc_warn("zmq_rejected", "socket", "orderd-intake", "reason", "overloaded", "bound", why);
        s_send_reply(p, 503, NULL, NULL, "overloaded", NULL);
        free(p);
        return;
    }
    self->live++;
    od_app_place(self->app, &r, "zmq", s_on_placed, p);
}

od_intake_t *od_intake_new(od_app_t *app, const char *endpoint)
{
    od_intake_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->app = app;
    self->m_garbage = cc_metrics_counter("zmq_rejected_total{socket=\"orderd-intake\",reason=\"garbage\"}",
                                         "ZeroMQ messages rejected, by reason");
    self->m_oversize = cc_metrics_counter(
        "zmq_rejected_total{socket=\"orderd-intake\",reason=\"oversize\"}", "ZeroMQ messages rejected");
    self->m_type = cc_metrics_counter(
        "zmq_rejected_total{socket=\"orderd-intake\",reason=\"wrong_type\"}", "ZeroMQ messages rejected");
    self->m_invalid = cc_metrics_counter(
        "zmq_rejected_total{socket=\"orderd-intake\",reason=\"invalid\"}", "ZeroMQ messages rejected");
    self->m_frames = cc_metrics_counter(
        "zmq_rejected_total{socket=\"orderd-intake\",reason=\"frames\"}", "ZeroMQ messages rejected");
    self->m_overloaded = cc_metrics_counter(
        "zmq_rejected_total{socket=\"orderd-intake\",reason=\"overloaded\"}",
        "ZeroMQ messages rejected");
    self->m_latency = cc_metrics_histogram("orderd_intake_seconds{via=\"zmq\"}",
                                           "Order placement latency, request to committed reply");
    self->router = cc_zsock_new(app->rt.base, app->rt.zctx, ZMQ_ROUTER, S_HARD_MAX, "orderd-intake",
                                s_on_msg, self);
    if (!self->router || cc_rt_curve_server(&app->rt, self->router, app->intake_clients) != 0
        || cc_zsock_bind(self->router, endpoint) != 0) {
        cc_zsock_destroy(&self->router);
        free(self);
        return NULL;
    }
    return self;
}

const char *od_intake_endpoint(const od_intake_t *self)
{
    return cc_zsock_endpoint(self->router);
}

void od_intake_destroy(od_intake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    od_intake_t *self = *self_p;
    *self_p = NULL;
    cc_zsock_destroy(&self->router);
    if (self->live > 0)
        self->closing = 1;   /* freed by the last pending reply */
    else
        free(self);
}
