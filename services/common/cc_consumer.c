/* cc_consumer: the consumer side of the event log. See cc_consumer.h. */
#include "cc_consumer.h"
#include "cc_event.h"
#include "cc_evlog.h"
#include "cc_log.h"
#include "cc_time.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zsock.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Statement names are prefixed to stay clear of the daemons' own. */
#define S_SQL_POSITION "SELECT cc_position($1)"
#define S_SQL_SKIP "SELECT cc_skip($1, $2::bigint, $3::bigint, $4::uuid)"

struct cc_consumer {
    struct event_base *base;
    cc_db_t *writer;              /* borrowed */
    char me[32];
    char producer[32];
    cc_consumer_fn *fn;
    const cc_consumer_entry_t *table; /* or this (borrowed), when fn is NULL */
    void *arg;
    cc_zsock_t *dealer;
    uint64_t position;            /* last seq whose effect committed */
    uint64_t head_seen;           /* producer head from the last reply */
    int loaded;
    int caught_up;
    int ahead;                    /* the producer's head is behind our position */
    int stopping;
    int held;                     /* cc_consumer_hold: no fetch, replies dropped */
    uint64_t fail_pos;            /* position at the last failed apply */
    int fails;                    /* failed applies in a row at fail_pos */
    int stuck;                    /* fails reached CC_CONSUMER_STUCK_AFTER */
    uint64_t req_no;              /* id of the Fetch in flight */
    int awaiting;                 /* a Fetch is in flight */
    int applying;                 /* statements of the current batch outstanding */
    int apply_failed;             /* one of them failed: re-fetch from position */
    uint64_t batch_last;          /* last seq of the batch being applied */
    int stalled;                  /* the reply made no progress: re-fetch after a pause */
    const Cc__Envelope *cur;      /* event being handled (for cc_consumer_exec) */
    int cur_execs;
    uint64_t skip_first;          /* run of ignored events not yet recorded (0: none) */
    uint64_t skip_last;
    char skip_id[40];             /* id of the run's last event */
    struct event *ev_timeout;     /* no reply: resend */
    struct event *ev_retry;       /* after an apply failure */
    struct s_apply *applies;      /* effect statements in flight */
    struct s_sync *syncs;         /* cc_consumer_sync calls pending */
    size_t nsyncs;
    int fresh_inflight;           /* the Fetch in flight has wait_ms 0 */
    uint64_t reply_no;            /* request number the reply being handled answers */
    cc_metric_t *m_applied, *m_skipped, *m_malformed, *m_lag, *m_errors, *m_ahead;
    cc_metric_t *m_stuck, *m_stuck_total;
    cc_metric_t *m_withheld;
};

/* One effect statement in flight; on the consumer's list so that a
 * consumer destroyed first can orphan it (c = NULL). */
typedef struct s_apply {
    struct s_apply *prev, *next;
    cc_consumer_t *c;
    cc_db_fn *fn;
    void *arg;
} s_apply_t;

/* One cc_consumer_sync call pending. Without a target yet (seq 0) it takes
 * the head reported by the first reply to a Fetch numbered min_req or
 * later, i.e. sent after the call. */
typedef struct s_sync {
    struct s_sync *next;
    cc_consumer_t *c;
    uint64_t target;              /* reached when position >= target */
    int has_target;
    uint64_t min_req;
    cc_consumer_sync_fn *fn;
    void *arg;
    struct event *timer;
} s_sync_t;

static void s_fetch(cc_consumer_t *self);
#define S_STUCK_RETRY_MAX_S 30   /* retries of a stuck event back off to this */

/* Call and free an unlinked sync. */
static void s_sync_fire(s_sync_t *y, int reached)
{
    event_free(y->timer);
    cc_consumer_sync_fn *fn = y->fn;
    void *arg = y->arg;
    free(y);
    fn(arg, reached);
}

/* The position moved: fire the syncs it reached. Unlinked first, so that a
 * callback may call cc_consumer_sync again. */
static void s_syncs_check(cc_consumer_t *self)
{
    s_sync_t *due = NULL, **pp = &self->syncs;
    while (*pp) {
        s_sync_t *y = *pp;
        if (y->has_target && self->position >= y->target) {
            *pp = y->next;
            self->nsyncs--;
            y->next = due;
            due = y;
        } else {
            pp = &y->next;
        }
    }
    while (due) {
        s_sync_t *y = due;
        due = y->next;
        s_sync_fire(y, 1);
    }
}

static void s_apply_done(cc_consumer_t *self, int ok)
{
    if (!ok)
        self->apply_failed = 1;
    if (--self->applying > 0)
        return;
    if (self->apply_failed) {
        self->apply_failed = 0;
        cc_metric_inc(self->m_errors);
        /* The same events again and again: counted, and after
         * CC_CONSUMER_STUCK_AFTER tries in a row logged and shown as stuck
         * (never skipped: the money they carry must not be lost). From then
         * on the retries back off to S_STUCK_RETRY_MAX_S, as each may cost
         * the daemon a reload of its working set. */
        if (self->fails > 0 && self->fail_pos == self->position) {
            self->fails++;
        } else {
            self->fail_pos = self->position;
            self->fails = 1;
        }
        char seq[24], n[16];
        snprintf(seq, sizeof seq, "%" PRIu64, self->position + 1);
        snprintf(n, sizeof n, "%d", self->fails);
        cc_error("consumer_apply_failed", "consumer", self->me, "producer", self->producer,
                 "seq", seq, "attempts", n);
        int wait_s = 1;
        if (self->fails >= CC_CONSUMER_STUCK_AFTER) {
            if (!self->stuck) {
                self->stuck = 1;
                cc_metric_inc(self->m_stuck_total);
                cc_metric_set(self->m_stuck, 1.0);
                cc_error("consumer_stuck", "consumer", self->me, "producer", self->producer,
                         "seq", seq, "attempts", n, "action",
                         "retrying; an operator must fix the cause (the event is never skipped)");
            }
            int k = self->fails - CC_CONSUMER_STUCK_AFTER;
            wait_s = k >= 5 ? S_STUCK_RETRY_MAX_S : 1 << k;
            if (wait_s > S_STUCK_RETRY_MAX_S)
                wait_s = S_STUCK_RETRY_MAX_S;
        }
        struct timeval tv = { wait_s, 0 };
        evtimer_add(self->ev_retry, &tv);
        return;
    }
    if (self->batch_last > self->position) {
        self->fails = 0;
        if (self->stuck) {
            self->stuck = 0;
            cc_metric_set(self->m_stuck, 0.0);
            cc_info("consumer_unstuck", "consumer", self->me, "producer", self->producer);
        }
    }
    self->position = self->batch_last;
    cc_metric_set(self->m_lag, self->head_seen > self->position
                                   ? (double) (self->head_seen - self->position) : 0.0);
    if (self->position >= self->head_seen)
        self->caught_up = 1;
    s_syncs_check(self);
    if (self->stalled) {
        /* A gap, a malformed event or a producer that cannot serve what it
         * advertises: asking again at once would spin (and flood the log)
         * for as long as it lasts. */
        self->stalled = 0;
        struct timeval tv = { 1, 0 };
        self->applying = 1;   /* holds s_fetch off until the retry timer */
        evtimer_add(self->ev_retry, &tv);
        return;
    }
    s_fetch(self);
}

static void s_on_apply(PGresult *res, void *arg)
{
    s_apply_t *a = arg;
    cc_consumer_t *self = a->c;
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (self) {
        if (a->prev)
            a->prev->next = a->next;
        else
            self->applies = a->next;
        if (a->next)
            a->next->prev = a->prev;
    }
    /* The caller's callback runs even when the consumer is gone: the
     * statement was theirs and it ran. */
    if (a->fn)
        a->fn(res, a->arg);
    free(a);
    if (self)
        s_apply_done(self, ok);
}

static int s_exec(cc_consumer_t *self, const char *stmt, int nparams,
                  const char *const *values, const int *lengths, const int *formats,
                  cc_db_fn *fn, void *arg)
{
    s_apply_t *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->c = self;
    a->fn = fn;
    a->arg = arg;
    if (cc_db_exec(self->writer, stmt, nparams, values, lengths, formats, s_on_apply, a) != 0) {
        free(a);
        return -1;
    }
    a->next = self->applies;
    if (a->next)
        a->next->prev = a;
    self->applies = a;
    self->applying++;
    return 0;
}

/* Record the pending run of ignored events (cc_skip: one inbox row, that of
 * its last event). Queued before the next effect, whose cc_consume() needs
 * the position right before it, and at the end of every batch. */
static void s_flush_skips(cc_consumer_t *self)
{
    if (!self->skip_first)
        return;
    char first[24], last[24];
    snprintf(first, sizeof first, "%" PRIu64, self->skip_first);
    snprintf(last, sizeof last, "%" PRIu64, self->skip_last);
    const char *v[4] = { self->producer, first, last, self->skip_id };
    self->skip_first = 0;
    /* A failure to queue fails the batch like a failed effect: the
     * in-order rule then refuses the next effect, and the batch is
     * fetched again from the position. */
    if (s_exec(self, "cc_consumer_skip", 4, v, NULL, NULL, NULL, NULL) != 0)
        self->apply_failed = 1;
}

int cc_consumer_exec(cc_consumer_t *self, const char *stmt, int nparams,
                     const char *const *values, const int *lengths, const int *formats,
                     cc_db_fn *fn, void *arg)
{
    s_flush_skips(self);
    if (s_exec(self, stmt, nparams, values, lengths, formats, fn, arg) != 0)
        return -1;
    self->cur_execs++;
    return 0;
}

/* An event we do not apply: it joins the pending run. */
static void s_skip(cc_consumer_t *self, const Cc__Envelope *env)
{
    if (!self->skip_first)
        self->skip_first = env->seq;
    self->skip_last = env->seq;
    snprintf(self->skip_id, sizeof self->skip_id, "%s", env->id);
}

/* A payload of a table's type that is not applied: log (never the payload:
 * it may hold personal data) and count; the caller skips it. */
static void s_reject(cc_consumer_t *self, const Cc__Envelope *env, const char *reason,
                     const char *field)
{
    cc_metric_inc(self->m_malformed);
    char m[200], seq[24];
    snprintf(m, sizeof m,
             "consumer_events_rejected_total{consumer=\"%s\",log=\"%s\",type=\"%s\","
             "reason=\"%s\"}", self->me, self->producer, env->type, reason);
    cc_metric_inc(cc_metrics_counter(m, "Events of a type this daemon applies that it "
                                        "rejected (skipped), by reason"));
    snprintf(seq, sizeof seq, "%" PRIu64, env->seq);
    cc_warn("consumer_event_rejected", "consumer", self->me, "producer", self->producer,
            "type", env->type, "seq", seq, "reason", reason, "field", field);
}

int cc_consumer_decode(const cc_consumer_entry_t *table, const Cc__Envelope *env,
                       const cc_consumer_entry_t **entry, ProtobufCMessage **msg,
                       const char **reason, const char **field)
{
    const cc_consumer_entry_t *e = table;
    *entry = NULL;
    *msg = NULL;
    *reason = *field = NULL;
    while (e->type && strcmp(e->type, env->type) != 0)
        e++;
    if (!e->type)
        return 0;   /* not ours: skipped */
    *entry = e;
    if (env->payload.len > CC_EVENT_MAX_PAYLOAD) {
        *reason = "too_large";
        return -1;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(e->desc, NULL, env->payload.len,
                                                    env->payload.data);
    if (!m) {
        *reason = "malformed";
        return -1;
    }
    if (cc_event_check(m, field) != 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        *reason = "schema";
        return -1;
    }
    *msg = m;
    return 0;
}

/* One event through the table: look up, unpack, check, handle, free. */
static void s_dispatch(cc_consumer_t *self, const Cc__Envelope *env)
{
    const cc_consumer_entry_t *e;
    ProtobufCMessage *msg;
    const char *reason, *field;
    if (cc_consumer_decode(self->table, env, &e, &msg, &reason, &field) != 0) {
        s_reject(self, env, reason, field);
        return;
    }
    if (!e)
        return;   /* not ours: skipped */
    if (e->fn(self, env, msg, self->arg) != 0)
        s_reject(self, env, "handler", NULL);
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void s_on_events(cc_consumer_t *self, const Cc__Envelope *outer)
{
    Cc__Events *evs = cc__events__unpack(NULL, outer->payload.len, outer->payload.data);
    if (!evs) {
        cc_metric_inc(self->m_malformed);
        cc_warn("consumer_rejected", "consumer", self->me, "reason", "malformed_events");
        return;
    }
    self->head_seen = evs->head_seq;
    for (s_sync_t *y = self->syncs; y; y = y->next)
        if (!y->has_target && self->reply_no >= y->min_req) {
            y->target = evs->head_seq;
            y->has_target = 1;
        }
    /* A producer behind us (its database restored from an older backup, or
     * the wrong one) has lost events we applied: nothing here can repair
     * that, but it must not go unnoticed while we wait for it to catch up. */
    int ahead = evs->head_seq < self->position;
    if (ahead != self->ahead) {
        char h[24], p[24];
        snprintf(h, sizeof h, "%" PRIu64, evs->head_seq);
        snprintf(p, sizeof p, "%" PRIu64, self->position);
        if (ahead)
            cc_error("consumer_ahead_of_producer", "consumer", self->me, "producer",
                     self->producer, "head", h, "position", p);
        else
            cc_info("consumer_producer_caught_up", "consumer", self->me, "producer",
                    self->producer, "head", h);
        self->ahead = ahead;
    }
    cc_metric_set(self->m_ahead, ahead ? (double) (self->position - evs->head_seq) : 0.0);
    self->batch_last = self->position;
    self->applying = 1;   /* guard: finish only after every event is queued */
    self->apply_failed = 0;
    self->stalled = 0;
    for (size_t i = 0; i < evs->n_events; i++) {
        Cc__Envelope *env = cc__envelope__unpack(NULL, evs->events[i].len, evs->events[i].data);
        if (!env) {
            cc_metric_inc(self->m_malformed);
            cc_warn("consumer_rejected", "consumer", self->me, "reason", "malformed_event");
            break;   /* cannot know its seq: stop here, re-fetch from the last good one */
        }
        if (env->seq <= self->batch_last) {
            cc__envelope__free_unpacked(env, NULL);
            continue;
        }
        if (env->seq != self->batch_last + 1) {
            char a[24];
            snprintf(a, sizeof a, "%" PRIu64, env->seq);
            cc_error("consumer_gap", "consumer", self->me, "producer", self->producer, "seq", a);
            cc__envelope__free_unpacked(env, NULL);
            break;
        }
        if (!cc_uuid_valid(env->id)) {
            cc_metric_inc(self->m_malformed);
            cc__envelope__free_unpacked(env, NULL);
            break;
        }
        if (strcmp(env->type, CC_EVLOG_WITHHELD) == 0) {
            /* The producer does not serve us this event (cc_grant.h): a
             * place in the log, recorded as skipped like any we ignore. */
            cc_metric_inc(self->m_withheld);
            s_skip(self, env);
            self->batch_last = env->seq;
            cc__envelope__free_unpacked(env, NULL);
            continue;
        }
        self->cur = env;
        self->cur_execs = 0;
        int rc = 0;
        if (self->table)
            s_dispatch(self, env);   /* rejections are counted there */
        else
            rc = self->fn(self, env, self->arg);
        if (rc != 0) {
            cc_metric_inc(self->m_malformed);
            cc_warn("consumer_malformed_event", "consumer", self->me, "producer",
                    self->producer, "type", env->type);
        }
        if (self->cur_execs == 0) {
            cc_metric_inc(self->m_skipped);
            s_skip(self, env);
        } else {
            cc_metric_inc(self->m_applied);
        }
        self->cur = NULL;
        self->batch_last = env->seq;
        cc__envelope__free_unpacked(env, NULL);
    }
    s_flush_skips(self);   /* the batch's last run of ignored events */
    /* No progress although the producer had something for us (events we
     * could not take, or none at all below its head): pause before asking
     * again. Events taken before a bad one are applied first; the next
     * reply then starts at the bad one and pauses. */
    if (self->batch_last == self->position &&
        (evs->n_events > 0 || self->head_seen > self->position))
        self->stalled = 1;
    cc__events__free_unpacked(evs, NULL);
    s_apply_done(self, 1);
}

/* A reply to an earlier Fetch (re-sent after a timeout) that starts right
 * after our position is as good as the one we wait for. Dropping it would
 * livelock a consumer whose catch-up reads take longer than its timeout:
 * every answer would arrive just after the Fetch it answers was re-sent. */
static int s_continues(const cc_consumer_t *self, const Cc__Envelope *outer)
{
    if (self->applying)
        return 0;
    Cc__Events *evs = cc__events__unpack(NULL, outer->payload.len, outer->payload.data);
    if (!evs)
        return 0;
    int ok = 0;
    if (evs->n_events > 0) {
        Cc__Envelope *e = cc__envelope__unpack(NULL, evs->events[0].len, evs->events[0].data);
        ok = e && e->seq == self->position + 1;
        if (e)
            cc__envelope__free_unpacked(e, NULL);
    }
    cc__events__free_unpacked(evs, NULL);
    return ok;
}

static void s_on_reply(cc_zsock_t *sock, const void *const *frames, const size_t *lens,
                       int nframes, void *arg)
{
    (void) sock;
    cc_consumer_t *self = arg;
    if (nframes != 1) {
        cc_metric_inc(self->m_malformed);
        return;
    }
    Cc__Envelope *env = cc__envelope__unpack(NULL, lens[0], frames[0]);
    if (!env || strcmp(env->type, "Events") != 0) {
        cc_metric_inc(self->m_malformed);
        cc_warn("consumer_rejected", "consumer", self->me, "reason", env ? "type" : "malformed");
        if (env)
            cc__envelope__free_unpacked(env, NULL);
        return;
    }
    char want[24];
    snprintf(want, sizeof want, "%" PRIu64, self->req_no);
    if (self->held || !self->awaiting ||
        (strcmp(env->id, want) != 0 && !s_continues(self, env))) {
        cc__envelope__free_unpacked(env, NULL);   /* stale reply to a resent Fetch */
        return;
    }
    self->awaiting = 0;
    self->fresh_inflight = 0;
    event_del(self->ev_timeout);
    /* A late reply taken by s_continues answers an older Fetch: 0 < req_no. */
    self->reply_no = strcmp(env->id, want) == 0 ? self->req_no : 0;
    s_on_events(self, env);
    cc__envelope__free_unpacked(env, NULL);
}

#define S_FETCH_WAIT_MS 1000
/* Silence longer than the timeout closes the link (see s_new). */
#define S_HEARTBEAT_IVL_MS 1000
#define S_HEARTBEAT_TIMEOUT_MS 5000

static void s_fetch(cc_consumer_t *self)
{
    if (self->stopping || self->held || !self->loaded || self->awaiting || self->applying)
        return;
    Cc__Fetch f = CC__FETCH__INIT;
    f.after_seq = self->position;
    f.max_events = 500;
    /* A sync without a target wants the producer's head as of now: ask for
     * it (answered after a fresh read of its table), not a long poll. */
    int fresh = 0;
    for (s_sync_t *y = self->syncs; y && !fresh; y = y->next)
        fresh = !y->has_target;
    f.wait_ms = fresh ? 0 : S_FETCH_WAIT_MS;
    f.consumer = self->me;
    size_t ilen = 0;
    uint8_t *inner = cc_pb_pack(&f.base, &ilen);
    if (!inner)
        return;
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, ++self->req_no);
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Fetch";
    env.id = id;
    env.producer = self->me;
    env.time_us = cc_now_us();
    env.payload.data = inner;
    env.payload.len = ilen;
    size_t len = 0;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    free(inner);
    if (!out)
        return;
    const void *frames[1] = { out };
    size_t lens[1] = { len };
    int sent = cc_zsock_sendv(self->dealer, frames, lens, 1);
    free(out);
    /* Whether or not the send was queued, a timeout resends: the producer
     * may be down or restarting, and its reply to us would then be lost.
     * Not sent (ZMQ_IMMEDIATE: not connected yet, or again): try soon. */
    self->awaiting = 1;
    self->fresh_inflight = fresh;
    struct timeval tv = { (S_FETCH_WAIT_MS + 3000) / CC_MS_PER_S, 0 };
    if (sent != 0) {
        tv.tv_sec = 0;
        tv.tv_usec = 200 * CC_US_PER_MS;
    }
    evtimer_add(self->ev_timeout, &tv);
}

static void s_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_consumer_t *self = arg;
    self->awaiting = 0;
    s_fetch(self);
}

static void s_on_retry_apply(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_consumer_t *self = arg;
    self->applying = 0;
    if (!self->loaded)
        cc_consumer_start(self);
    else
        s_fetch(self);
}

static void s_on_position(PGresult *res, void *arg)
{
    cc_consumer_t *self = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        cc_error("consumer_position_failed", "consumer", self->me, "producer", self->producer);
        struct timeval tv = { 1, 0 };
        evtimer_add(self->ev_retry, &tv);   /* retry start via apply path */
        self->loaded = 0;
        return;
    }
    self->position = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    self->loaded = 1;
    char p[24];
    snprintf(p, sizeof p, "%" PRIu64, self->position);
    cc_info("consumer_started", "consumer", self->me, "producer", self->producer, "seq", p);
    s_fetch(self);
}

static cc_consumer_t *s_new(struct event_base *base, void *zctx, cc_db_t *writer,
                           const char *me, const char *producer, const char *endpoint,
                           cc_consumer_fn *fn, const cc_consumer_entry_t *table,
                           const char *const keys[3], void *arg)
{
    cc_consumer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->writer = writer;
    self->fn = fn;
    self->table = table;
    self->arg = arg;
    snprintf(self->me, sizeof self->me, "%s", me);
    snprintf(self->producer, sizeof self->producer, "%s", producer);
    char sname[64];
    snprintf(sname, sizeof sname, "%s-from-%s", me, producer);
    self->dealer = cc_zsock_new(base, zctx, ZMQ_DEALER, CC_EVLOG_MAX_REPLY, sname,
                                s_on_reply, self);
    self->ev_timeout = evtimer_new(base, s_on_timeout, self);
    self->ev_retry = evtimer_new(base, s_on_retry_apply, self);
    /* While the producer is down a DEALER would queue every re-sent Fetch
     * and deliver the lot when it comes back: one catch-up read each, for
     * replies we drop. ZMQ_IMMEDIATE: no queue without a live connection
     * (the send fails, the timeout re-sends). Set before connecting. */
    int immediate = 1;
    /* A link that goes silent without FIN or RST (a half-open connection:
     * peer host or middlebox gone) would otherwise carry every re-sent
     * Fetch into the void for good: ZMTP heartbeats notice the silence,
     * close the connection and let the DEALER reconnect
     * (tests/system/test_netfault.py). */
    int hb_ivl = S_HEARTBEAT_IVL_MS, hb_timeout = S_HEARTBEAT_TIMEOUT_MS;
    if (!self->dealer || !self->ev_timeout || !self->ev_retry ||
        zmq_setsockopt(cc_zsock_raw(self->dealer), ZMQ_IMMEDIATE, &immediate,
                       sizeof immediate) != 0 ||
        zmq_setsockopt(cc_zsock_raw(self->dealer), ZMQ_HEARTBEAT_IVL, &hb_ivl,
                       sizeof hb_ivl) != 0 ||
        zmq_setsockopt(cc_zsock_raw(self->dealer), ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout,
                       sizeof hb_timeout) != 0 ||
        (keys && cc_zsock_curve_client(self->dealer, keys[0], keys[1], keys[2]) != 0) ||
        cc_zsock_connect(self->dealer, endpoint) != 0) {
        cc_consumer_destroy(&self);
        return NULL;
    }
    if (cc_db_prepare(writer, "cc_consumer_position", S_SQL_POSITION) != 0 ||
        cc_db_prepare(writer, "cc_consumer_skip", S_SQL_SKIP) != 0) {
        cc_consumer_destroy(&self);
        return NULL;
    }
    char m[160];
    snprintf(m, sizeof m, "consumer_events_applied_total{consumer=\"%s\",log=\"%s\"}", me,
             producer);
    self->m_applied = cc_metrics_counter(m, "Events applied");
    snprintf(m, sizeof m, "consumer_events_skipped_total{consumer=\"%s\",log=\"%s\"}", me,
             producer);
    self->m_skipped = cc_metrics_counter(m, "Events of types this daemon ignores");
    snprintf(m, sizeof m, "consumer_events_withheld_total{consumer=\"%s\",log=\"%s\"}", me,
             producer);
    self->m_withheld = cc_metrics_counter(m, "Events the producer did not grant us: "
                                             "Withheld markers, skipped");
    snprintf(m, sizeof m, "consumer_rejected_total{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_malformed = cc_metrics_counter(m, "Malformed messages or events rejected");
    snprintf(m, sizeof m, "consumer_lag_events{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_lag = cc_metrics_gauge(m, "Events committed by the producer not yet applied");
    snprintf(m, sizeof m, "consumer_apply_errors_total{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_errors = cc_metrics_counter(m, "Batches whose effects failed and were retried");
    snprintf(m, sizeof m, "consumer_ahead_events{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_ahead = cc_metrics_gauge(m, "Events applied here beyond the producer's head "
                                        "(producer restored from an older state)");
    snprintf(m, sizeof m, "consumer_stuck{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_stuck = cc_metrics_gauge(m, "1 while the same events failed to apply "
                                        CC_CONSUMER_STUCK_AFTER_TEXT " times in a row or more");
    snprintf(m, sizeof m, "consumer_stuck_total{consumer=\"%s\",log=\"%s\"}", me, producer);
    self->m_stuck_total = cc_metrics_counter(m, "Times events failed to apply "
                                                CC_CONSUMER_STUCK_AFTER_TEXT " times in a row");
    return self;
}

cc_consumer_t *cc_consumer_new(struct event_base *base, void *zctx, cc_db_t *writer,
                               const char *me, const char *producer, const char *endpoint,
                               cc_consumer_fn *fn, void *arg)
{
    assert(fn);
    return s_new(base, zctx, writer, me, producer, endpoint, fn, NULL, NULL, arg);
}

cc_consumer_t *cc_consumer_new_table(struct event_base *base, void *zctx, cc_db_t *writer,
                                     const char *me, const char *producer,
                                     const char *endpoint, const cc_consumer_entry_t *table,
                                     void *arg)
{
    assert(table);
    for (const cc_consumer_entry_t *e = table; e->type; e++)
        assert(e->desc && e->fn && cc_event_schema(e->desc));
    return s_new(base, zctx, writer, me, producer, endpoint, NULL, table, NULL, arg);
}

cc_consumer_t *cc_consumer_new_curve(struct event_base *base, void *zctx, cc_db_t *writer,
                                     const char *me, const char *producer,
                                     const char *endpoint, const cc_consumer_entry_t *table,
                                     const char *public_key, const char *secret_key,
                                     const char *server_key, void *arg)
{
    assert(table && public_key && secret_key && server_key);
    for (const cc_consumer_entry_t *e = table; e->type; e++)
        assert(e->desc && e->fn && cc_event_schema(e->desc));
    const char *const keys[3] = { public_key, secret_key, server_key };
    return s_new(base, zctx, writer, me, producer, endpoint, NULL, table, keys, arg);
}

void cc_consumer_destroy(cc_consumer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_consumer_t *self = *self_p;
    /* The writer outlives us: the position query must not call us back,
     * and effect statements in flight finish without us. */
    if (self->writer)
        cc_db_forget(self->writer, self);
    for (s_apply_t *a = self->applies; a; a = a->next)
        a->c = NULL;
    while (self->syncs) {
        s_sync_t *y = self->syncs;
        self->syncs = y->next;
        event_free(y->timer);
        free(y);
    }
    cc_zsock_destroy(&self->dealer);
    if (self->ev_timeout)
        event_free(self->ev_timeout);
    if (self->ev_retry)
        event_free(self->ev_retry);
    free(self);
    *self_p = NULL;
}

int cc_consumer_start(cc_consumer_t *self)
{
    const char *v[1] = { self->producer };
    return cc_db_exec(self->writer, "cc_consumer_position", 1, v, NULL, NULL, s_on_position,
                      self);
}

void cc_consumer_stop(cc_consumer_t *self)
{
    self->stopping = 1;
    event_del(self->ev_timeout);
    event_del(self->ev_retry);
    /* Nothing will advance any more: the waiting requests get their answer. */
    while (self->syncs) {
        s_sync_t *y = self->syncs;
        self->syncs = y->next;
        self->nsyncs--;
        s_sync_fire(y, 0);
    }
}

void cc_consumer_hold(cc_consumer_t *self, int on)
{
    if (self->held == !!on)
        return;
    self->held = !!on;
    if (self->held)
        return;
    /* A reply dropped while held leaves its Fetch unanswered: ask again. */
    self->awaiting = 0;
    event_del(self->ev_timeout);
    s_fetch(self);
}

int cc_consumer_stuck(const cc_consumer_t *self)
{
    return self->stuck;
}

uint64_t cc_consumer_position(const cc_consumer_t *self)
{
    return self->position;
}

int cc_consumer_caught_up(const cc_consumer_t *self)
{
    return self->caught_up;
}

static void s_on_sync_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_sync_t *y = arg;
    cc_consumer_t *self = y->c;
    for (s_sync_t **pp = &self->syncs; *pp; pp = &(*pp)->next)
        if (*pp == y) {
            *pp = y->next;
            self->nsyncs--;
            break;
        }
    s_sync_fire(y, 0);
}

int cc_consumer_sync(cc_consumer_t *self, uint64_t seq, int timeout_ms,
                     cc_consumer_sync_fn *fn, void *arg)
{
    assert(fn && timeout_ms >= 0);
    if (self->stopping)
        return -1;
    if (seq > 0 && self->loaded && self->position >= seq)
        return 1;
    s_sync_t *y = calloc(1, sizeof *y);
    if (!y)
        return -1;
    y->timer = evtimer_new(self->base, s_on_sync_timeout, y);
    struct timeval tv = { timeout_ms / CC_MS_PER_S, (timeout_ms % CC_MS_PER_S) * CC_US_PER_MS };
    if (!y->timer || evtimer_add(y->timer, &tv) != 0) {
        if (y->timer)
            event_free(y->timer);
        free(y);
        return -1;
    }
    y->c = self;
    y->fn = fn;
    y->arg = arg;
    y->target = seq;
    y->has_target = seq > 0;
    y->min_req = self->req_no + 1;
    y->next = self->syncs;
    self->syncs = y;
    self->nsyncs++;
    /* A long poll parked at the producer would answer only when something
     * new commits (or after S_FETCH_WAIT_MS): replace it with a fresh Fetch
     * now (the producer drops the parked one, and its reply, if already
     * sent, is dropped here as stale). A fresh Fetch already in flight was
     * sent before this call and may have been read before the commit we
     * must see: the next one goes right after its reply, as during an
     * apply. */
    if (!y->has_target && self->awaiting && !self->fresh_inflight && !self->applying) {
        self->awaiting = 0;
        event_del(self->ev_timeout);
        s_fetch(self);
    }
    return 0;
}

size_t cc_consumer_syncs(const cc_consumer_t *self)
{
    return self->nsyncs;
}
