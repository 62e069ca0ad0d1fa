/* cc_evlog: event log producer (Fetch server). See cc_evlog.h. */
#include "cc_evlog.h"
#include "cc_grant.h"
#include "cc_log.h"
#include "cc_time.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zsock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_REPLY_MAX_EVENTS 1000
#define S_REPLY_MAX_BYTES (8 * 1024 * 1024)
#define S_WAIT_MAX_MS 30000
/* Long polls parked at once. A consumer has one Fetch outstanding (a re-sent
 * one replaces its earlier one), so this bounds only a flood of peers. */
#define S_WAITERS_MAX 256
#define S_CATCHUPS_MAX 32          /* table reads in flight (one per consumer at most) */
#define S_SCAN_LIMIT "1000"
/* Pruning: readers a log waits for, rows per table per pass, and how soon
 * a pass that hit the limit is followed by the next. */
#define S_READERS_MAX 8
#define S_PRUNE_BATCH "5000"
#define S_PRUNE_AGAIN_MS 200
/* A catch-up below the oldest stored event: logged at most this often. */
#define S_PRUNED_LOG_EVERY_US (60 * CC_US_PER_S)

/* Statement names are prefixed to stay clear of the daemons' own. */
#define S_SQL_HEAD "SELECT coalesce(max(seq), 0), coalesce(min(seq), 0) FROM events"
#define S_SQL_PRUNE                                                                    \
    "SELECT r_floor, r_events, r_inbox, r_more FROM cc_log_prune($1::text[], "          \
    "$2::bigint[], $3::text[], $4::text[], $5::int, $6::int, $7::bigint)"
#define S_SQL_SCAN                                                                    \
    "SELECT seq, id::text, type, key, district_id, "                                  \
    "(extract(epoch FROM time) * 1000000)::bigint, payload "                          \
    "FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"

uint8_t *cc_pb_pack(const ProtobufCMessage *msg, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    *len = n;
    return buf;
}

typedef struct {
    uint64_t seq;
    uint8_t *bytes;            /* serialised Envelope */
    size_t len;
    char *type;                /* its Envelope.type, for the grants */
    char id[40];               /* its event id, for its marker */
    uint8_t *marker;           /* its Withheld marker, built when first needed */
    size_t marker_len;
} s_entry_t;

typedef struct s_waiter {
    struct s_waiter *next;
    struct cc_evlog *log;
    uint8_t *ident;            /* ROUTER identity frame */
    size_t ident_len;
    char req_id[64];           /* echoed so the consumer can match replies */
    const cc_grant_t *grant;   /* what this reader is served (filtered logs) */
    uint64_t after_seq;
    uint32_t max_events;
    struct event *timer;       /* wait_ms expiry */
    uint64_t need_scan;        /* fresh: answer after this scan reaches the table's end */
    cc_evlog_sync_fn *fn;      /* fresh, local (cc_evlog_sync): ident is NULL */
    void *arg;
} s_waiter_t;

/* A catch-up read from the table in flight for one consumer; on the log's
 * list so that destroying the log can cancel it. */
typedef struct s_catchup {
    struct s_catchup *prev, *next;
    struct cc_evlog *log;
    uint8_t *ident;
    size_t ident_len;
    char req_id[64];
    const cc_grant_t *grant;
    uint64_t after_seq;
} s_catchup_t;

/* A reader named in the log's reader list, and where its last Fetch said
 * it stands (after_seq). */
typedef struct {
    char name[32];
    uint64_t seq;
    int reported;              /* a Fetch came since we started */
} s_reader_t;

struct cc_evlog {
    struct event_base *base;
    cc_db_t *reader;           /* borrowed */
    cc_db_t *writer;           /* borrowed */
    char producer[32];
    cc_zsock_t *router;        /* Fetch server */
    uint64_t head;             /* last seq scanned into the ring */
    uint64_t db_head;          /* max(seq) of events when loaded (the ring may lag) */
    int head_loaded;
    int head_loading;          /* the head query is queued or in flight */
    int scanning;              /* a scan is in flight */
    int scanned;               /* a scan has reached the table's head once */
    int rescan;                /* another commit happened during the scan */
    s_entry_t *ring;           /* ring[seq % ring_size] */
    size_t ring_size;
    uint64_t ring_first;       /* lowest seq still in the ring (0: empty) */
    s_waiter_t *waiters;
    /* Fresh reads (Fetch with wait_ms 0, cc_evlog_sync): answered only by
     * a scan that started after they came, so the head they see counts
     * every event committed before (read your writes, ARCHITECTURE.md). */
    s_waiter_t *fresh;
    uint64_t scans_sent;       /* scans queued so far; the one in flight is the last */
    s_catchup_t *catchups;     /* table reads in flight on the reader */
    int ncatchups;             /* on that list, at most S_CATCHUPS_MAX */
    cc_metric_t *m_catchup_refused;
    const cc_grant_t *grants;  /* borrowed; NULL: every reader gets every event */
    struct event *ev_tick;     /* periodic scan: a safety net for lost notifications */
    cc_metric_t *m_fetch, *m_rejected, *m_served, *m_head, *m_catchup, *m_evicted;
    cc_metric_t *m_fresh;
    /* Pruning (cc_evlog_prune_set); off while interval_s is 0. */
    s_reader_t readers[S_READERS_MAX];
    int nreaders;
    char *clients_arr;         /* the readers as an SQL array literal */
    char *logs_arr;            /* the logs whose inbox rows go, likewise */
    int64_t keep_s, interval_s;
    int pruning;               /* a pass is in flight */
    int floor_known;           /* the last pass knew every reader's position */
    struct event *ev_prune;
    int64_t pruned_logged_us;  /* last evlog_fetch_pruned line */
    cc_metric_t *m_pruned_events, *m_pruned_inbox, *m_floor, *m_pruned_past, *m_passes;
};

static void s_scan(cc_evlog_t *self);
static void s_wake_fresh(cc_evlog_t *self);

/* Build a serialised Envelope from one row of S_SQL_SCAN. */
static uint8_t *s_row_envelope(const char *producer, PGresult *res, int row, uint64_t *seq,
                               size_t *len)
{
    Cc__Envelope env = CC__ENVELOPE__INIT;
    *seq = strtoull(PQgetvalue(res, row, 0), NULL, 10);
    env.seq = *seq;
    env.id = PQgetvalue(res, row, 1);
    env.type = PQgetvalue(res, row, 2);
    env.key = PQgetvalue(res, row, 3);
    env.district_id = (uint32_t) strtoul(PQgetvalue(res, row, 4), NULL, 10);
    env.time_us = strtoll(PQgetvalue(res, row, 5), NULL, 10);
    env.producer = (char *) producer;
    size_t plen = 0;
    unsigned char *payload = PQunescapeBytea((const unsigned char *) PQgetvalue(res, row, 6),
                                             &plen);
    if (!payload)
        return NULL;
    env.payload.data = payload;
    env.payload.len = plen;
    uint8_t *out = cc_pb_pack(&env.base, len);
    PQfreemem(payload);
    return out;
}

/* A Withheld marker for event seq: its seq and id only (the consumer records
 * it as skipped, so its position stays gapless), nothing of what it was. */
static uint8_t *s_marker(const char *producer, uint64_t seq, const char *id, size_t *len)
{
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = CC_EVLOG_WITHHELD;
    env.id = (char *) id;
    env.producer = (char *) producer;
    env.seq = seq;
    return cc_pb_pack(&env.base, len);
}

/* May the reader of grant (NULL: none) receive an event of type? */
static int s_served(const cc_evlog_t *self, const cc_grant_t *grant, const char *type)
{
    return !self->grants || cc_grant_allows(grant, type);
}

static void s_count_withheld(cc_evlog_t *self, const cc_grant_t *grant, size_t n)
{
    if (n == 0)
        return;
    char m[160];
    snprintf(m, sizeof m, "evlog_events_withheld_total{log=\"%s\",reader=\"%s\"}",
             self->producer, grant ? grant->reader : "none");
    cc_metric_add(cc_metrics_counter(m, "Events a reader was not granted, served as "
                                        "Withheld markers"), (double) n);
}

static void s_send_events(cc_evlog_t *self, const uint8_t *ident, size_t ident_len,
                          const char *req_id, ProtobufCBinaryData *items, size_t n)
{
    Cc__Events evs = CC__EVENTS__INIT;
    evs.events = items;
    evs.n_events = n;
    /* While the ring is still filling after a start, head lags the table:
     * never tell a consumer it is caught up before it is. */
    evs.head_seq = self->head > self->db_head ? self->head : self->db_head;
    evs.producer = self->producer;
    size_t inner_len = 0;
    uint8_t *inner = cc_pb_pack(&evs.base, &inner_len);
    if (!inner)
        return;
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "Events";
    env.id = (char *) req_id;
    env.producer = self->producer;
    env.seq = self->head;
    env.time_us = cc_now_us();
    env.payload.data = inner;
    env.payload.len = inner_len;
    size_t len = 0;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    free(inner);
    if (!out)
        return;
    const void *frames[2] = { ident, out };
    size_t lens[2] = { ident_len, len };
    cc_zsock_sendv(self->router, frames, lens, 2);
    cc_metric_add(self->m_served, (double) n);
    free(out);
}

/* Entries after after_seq from the ring; returns how many (0 if the ring
 * does not reach back far enough: *covered = 0). */
static size_t s_ring_collect(cc_evlog_t *self, uint64_t after_seq, uint32_t max,
                             const cc_grant_t *grant, ProtobufCBinaryData *items, int *covered)
{
    size_t withheld = 0;
    *covered = 1;
    if (after_seq >= self->head)
        return 0;
    if (self->ring_first == 0 || after_seq + 1 < self->ring_first) {
        *covered = 0;
        return 0;
    }
    size_t n = 0, bytes = 0;
    for (uint64_t s = after_seq + 1; s <= self->head && n < max; s++) {
        s_entry_t *e = &self->ring[s % self->ring_size];
        if (e->seq != s) {
            *covered = 0;
            return 0;
        }
        const uint8_t *b = e->bytes;
        size_t len = e->len;
        if (!s_served(self, grant, e->type)) {
            if (!e->marker)
                e->marker = s_marker(self->producer, e->seq, e->id, &e->marker_len);
            if (!e->marker)
                break;   /* out of memory: serve what we have */
            b = e->marker;
            len = e->marker_len;
            withheld++;
        }
        if (n > 0 && bytes + len > S_REPLY_MAX_BYTES)
            break;
        items[n].data = (uint8_t *) b;
        items[n].len = len;
        bytes += len;
        n++;
    }
    s_count_withheld(self, grant, withheld);
    return n;
}

static void s_waiter_free(s_waiter_t *w)
{
    if (w->timer)
        event_free(w->timer);
    free(w->ident);
    free(w);
}

static void s_unlink_waiter(cc_evlog_t *self, s_waiter_t *w)
{
    for (s_waiter_t **pp = &self->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

/* Before parking a Fetch from peer ident: drop that peer's earlier parked
 * Fetch (it re-sent; its reply to the old one would be dropped as stale),
 * and when S_WAITERS_MAX are parked, drop the oldest unanswered. Answering
 * it (empty) would have it ask again at once and evict the next one: a busy
 * loop among the pollers. Unanswered, its own timeout re-sends later. */
static void s_make_room(cc_evlog_t *self, const uint8_t *ident, size_t ident_len)
{
    size_t n = 0;
    s_waiter_t **pp = &self->waiters, **oldest = NULL;
    while (*pp) {
        s_waiter_t *w = *pp;
        if (w->ident_len == ident_len && memcmp(w->ident, ident, ident_len) == 0) {
            *pp = w->next;
            s_waiter_free(w);
            continue;
        }
        n++;
        oldest = pp;   /* newest first: the last one is the oldest */
        pp = &w->next;
    }
    if (n >= S_WAITERS_MAX && oldest) {
        s_waiter_t *w = *oldest;
        *oldest = w->next;
        cc_metric_inc(self->m_evicted);
        s_waiter_free(w);
    }
}

static void s_on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_waiter_t *w = arg;
    cc_evlog_t *self = w->log;
    s_unlink_waiter(self, w);
    /* Without a loaded head an empty answer would claim "caught up at 0";
     * say nothing: the consumer's own timeout re-sends. */
    if (self->head_loaded)
        s_send_events(self, w->ident, w->ident_len, w->req_id, NULL, 0);
    s_waiter_free(w);
}

static void s_on_catchup(PGresult *res, void *arg);

/* The oldest stored event is past what the reader asks for: pruned while it
 * was not listed (or a reader restored from an old backup). It gets the gap
 * and its consumer stops (consumer_gap); say so here too. */
static void s_check_pruned_past(cc_evlog_t *self, uint64_t after, uint64_t first)
{
    if (first <= after + 1)
        return;
    cc_metric_inc(self->m_pruned_past);
    int64_t now = cc_now_us();
    if (self->pruned_logged_us && now - self->pruned_logged_us < S_PRUNED_LOG_EVERY_US)
        return;
    self->pruned_logged_us = now;
    char a[24], f[24];
    snprintf(a, sizeof a, "%" PRIu64, after);
    snprintf(f, sizeof f, "%" PRIu64, first);
    cc_warn("evlog_fetch_pruned", "producer", self->producer, "after_seq", a, "oldest", f);
}

static void s_catchup_unlink(cc_evlog_t *self, s_catchup_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        self->catchups = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    self->ncatchups--;
}

/* Read up to max events after after_seq from the table for a consumer.
 * Takes ownership of ident (malloc'd). */
static void s_catchup_start(cc_evlog_t *self, uint8_t *ident, size_t ident_len,
                            const char *req_id, const cc_grant_t *grant, uint64_t after_seq,
                            uint32_t max)
{
    /* Bounded: a slow or paused database must not let re-sent Fetches pile
     * up reads. Over the bound a Fetch is dropped unanswered and re-sent by
     * its consumer's own timeout. (No joining of a peer's read in flight: it
     * may have started before commits a fresh Fetch must see.) */
    if (self->ncatchups >= S_CATCHUPS_MAX) {
        cc_metric_inc(self->m_catchup_refused);
        free(ident);
        return;
    }
    s_catchup_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(ident);
        return;
    }
    c->log = self;
    c->ident = ident;
    c->ident_len = ident_len;
    c->grant = grant;
    snprintf(c->req_id, sizeof c->req_id, "%s", req_id);
    c->after_seq = after_seq;
    char after[24], lim[16];
    snprintf(after, sizeof after, "%" PRIu64, after_seq);
    snprintf(lim, sizeof lim, "%u", max);
    const char *v[2] = { after, lim };
    if (cc_db_exec(self->reader, "cc_evlog_scan", 2, v, NULL, NULL, s_on_catchup, c) != 0) {
        free(c->ident);
        free(c);
        return;   /* the consumer's timeout re-sends */
    }
    cc_metric_inc(self->m_catchup);
    c->next = self->catchups;
    if (c->next)
        c->next->prev = c;
    self->catchups = c;
    self->ncatchups++;
}

static void s_on_catchup(PGresult *res, void *arg)
{
    s_catchup_t *c = arg;
    cc_evlog_t *self = c->log;
    s_catchup_unlink(self, c);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        int rows = PQntuples(res);
        if (rows > 0)
            s_check_pruned_past(self, c->after_seq, strtoull(PQgetvalue(res, 0, 0), NULL, 10));
        ProtobufCBinaryData *items = calloc((size_t) rows + 1, sizeof *items);
        size_t n = 0, bytes = 0, withheld = 0;
        for (int i = 0; items && i < rows; i++) {
            uint64_t seq;
            size_t len;
            uint8_t *b;
            int served = s_served(self, c->grant, PQgetvalue(res, i, 2));
            if (served) {
                b = s_row_envelope(self->producer, res, i, &seq, &len);
            } else {
                seq = strtoull(PQgetvalue(res, i, 0), NULL, 10);
                b = s_marker(self->producer, seq, PQgetvalue(res, i, 1), &len);
            }
            if (!b)
                break;
            if (n > 0 && bytes + len > S_REPLY_MAX_BYTES) {
                free(b);
                break;
            }
            withheld += !served;
            items[n].data = b;
            items[n].len = len;
            bytes += len;
            n++;
        }
        s_count_withheld(self, c->grant, withheld);
        s_send_events(self, c->ident, c->ident_len, c->req_id, items, n);
        for (size_t i = 0; i < n; i++)
            free(items[i].data);
        free(items);
    }
    free(c->ident);
    free(c);
}

/* Answer waiters that now have something to read. */
static void s_wake_waiters(cc_evlog_t *self)
{
    s_waiter_t **pp = &self->waiters;
    while (*pp) {
        s_waiter_t *w = *pp;
        if (w->after_seq < self->head) {
            *pp = w->next;
            ProtobufCBinaryData items[S_REPLY_MAX_EVENTS];
            int covered;
            size_t n = s_ring_collect(self, w->after_seq, w->max_events, w->grant, items,
                                      &covered);
            if (covered) {
                s_send_events(self, w->ident, w->ident_len, w->req_id, items, n);
            } else {
                /* Fell out of the ring while waiting: read the table. */
                s_catchup_start(self, w->ident, w->ident_len, w->req_id, w->grant,
                                w->after_seq, w->max_events);
                w->ident = NULL;
            }
            s_waiter_free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* A scan reached the table's end: answer the fresh reads it covers (those
 * that came before it started). */
static void s_wake_fresh(cc_evlog_t *self)
{
    s_waiter_t *due = NULL, **pp = &self->fresh;
    while (*pp) {
        s_waiter_t *w = *pp;
        if (w->need_scan <= self->scans_sent) {
            *pp = w->next;
            w->next = due;
            due = w;
        } else {
            pp = &w->next;
        }
    }
    while (due) {
        s_waiter_t *w = due;
        due = w->next;
        if (w->fn) {
            w->fn(w->arg, self->head);   /* may call cc_evlog_sync again: unlinked first */
        } else if (w->after_seq >= self->head) {
            s_send_events(self, w->ident, w->ident_len, w->req_id, NULL, 0);
        } else {
            ProtobufCBinaryData items[S_REPLY_MAX_EVENTS];
            int covered;
            size_t n = s_ring_collect(self, w->after_seq, w->max_events, w->grant, items,
                                      &covered);
            if (covered) {
                s_send_events(self, w->ident, w->ident_len, w->req_id, items, n);
            } else {
                s_catchup_start(self, w->ident, w->ident_len, w->req_id, w->grant,
                                w->after_seq, w->max_events);
                w->ident = NULL;
            }
        }
        s_waiter_free(w);
    }
}

static void s_on_scan(PGresult *res, void *arg)
{
    cc_evlog_t *self = arg;
    self->scanning = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        self->rescan = 1;   /* retried on the next poke or commit */
        return;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        uint64_t seq;
        size_t len;
        uint8_t *b = s_row_envelope(self->producer, res, i, &seq, &len);
        if (!b)
            break;
        if (seq != self->head + 1) {
            /* Cannot happen with locked numbering; never serve a gap. */
            char a[24], e[24];
            snprintf(a, sizeof a, "%" PRIu64, seq);
            snprintf(e, sizeof e, "%" PRIu64, self->head + 1);
            cc_error("evlog_gap", "seq", a, "expected", e);
            free(b);
            break;
        }
        s_entry_t *slot = &self->ring[seq % self->ring_size];
        char *type = strdup(PQgetvalue(res, i, 2));
        if (!type) {
            free(b);
            break;   /* out of memory: the next scan tries again */
        }
        free(slot->bytes);
        free(slot->type);
        free(slot->marker);
        slot->marker = NULL;
        slot->seq = seq;
        slot->bytes = b;
        slot->len = len;
        slot->type = type;
        snprintf(slot->id, sizeof slot->id, "%s", PQgetvalue(res, i, 1));
        self->head = seq;
        if (self->ring_first == 0)
            self->ring_first = seq;
        else if (seq >= self->ring_size && seq - self->ring_size + 1 > self->ring_first)
            self->ring_first = seq - self->ring_size + 1;
    }
    cc_metric_set(self->m_head, (double) self->head);
    s_wake_waiters(self);
    if (rows < atoi(S_SCAN_LIMIT)) {
        self->scanned = 1;
        s_wake_fresh(self);
    }
    if (rows >= atoi(S_SCAN_LIMIT) || self->rescan) {
        self->rescan = 0;
        s_scan(self);
    }
}

static void s_scan(cc_evlog_t *self)
{
    if (!self->head_loaded)
        return;
    if (self->scanning) {
        self->rescan = 1;
        return;
    }
    self->scanning = 1;
    char after[24];
    snprintf(after, sizeof after, "%" PRIu64, self->head);
    const char *v[2] = { after, S_SCAN_LIMIT };
    if (cc_db_exec(self->reader, "cc_evlog_scan", 2, v, NULL, NULL, s_on_scan, self) != 0)
        self->scanning = 0;
    else
        self->scans_sent++;
}

/* The number of the first scan to start from now on: started at once if
 * none is in flight, else queued behind it (rescan). A scan that cannot
 * start now (head not loaded, reader queue full) is the next one the tick,
 * a commit or a notification starts. */
static uint64_t s_fresh_scan(cc_evlog_t *self)
{
    if (self->scanning) {
        self->rescan = 1;
        return self->scans_sent + 1;
    }
    s_scan(self);
    return self->scanning ? self->scans_sent : self->scans_sent + 1;
}

static void s_on_head(PGresult *res, void *arg)
{
    cc_evlog_t *self = arg;
    self->head_loading = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        /* Retried by the tick: until the head loads nothing is served. */
        cc_error("evlog_head_failed", "producer", self->producer);
        return;
    }
    uint64_t head = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    uint64_t oldest = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    self->db_head = head;
    if (!self->head_loaded) {
        /* Start the ring a little behind the head so recent catch-ups are
         * served from memory, but not below the oldest stored event: the
         * scan would see the pruned ones as a gap and serve nothing. */
        uint64_t back = self->ring_size / 2;
        self->head = head > back ? head - back : 0;
        if (oldest > 0 && self->head < oldest - 1)
            self->head = oldest - 1;
        self->head_loaded = 1;
    }
    s_scan(self);
}

static void s_load_head(cc_evlog_t *self)
{
    if (self->head_loading)
        return;   /* a reconnect re-sends the query in flight */
    if (cc_db_exec(self->reader, "cc_evlog_head", 0, NULL, NULL, NULL, s_on_head, self) == 0)
        self->head_loading = 1;
}

static void s_on_reader_connect(void *arg)
{
    cc_evlog_t *self = arg;
    if (!self->head_loaded)
        s_load_head(self);
    else
        s_scan(self);   /* we may have missed notifications while away */
}

static void s_on_notify(const char *channel, const char *payload, void *arg)
{
    (void) channel;
    (void) payload;
    s_scan((cc_evlog_t *) arg);
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_evlog_t *self = arg;
    if (!self->head_loaded) {
        if (cc_db_connected(self->reader))
            s_load_head(self);   /* the last try failed */
        return;
    }
    s_scan(self);
}

static void s_on_writer_commit(void *arg)
{
    s_scan((cc_evlog_t *) arg);
}

/* A fresh Fetch (wait_ms 0): answered after the next scan that starts
 * from now on, never from what is in memory already, whose head may lag a
 * commit whose HTTP reply has gone out (the scan runs after the COMMIT).
 * It replaces the peer's parked Fetch and its earlier fresh one (their
 * replies would be dropped as stale); beyond S_WAITERS_MAX the oldest is
 * dropped unanswered, as parked ones are. */
static void s_fetch_fresh(cc_evlog_t *self, const uint8_t *ident, size_t ident_len,
                          const char *req_id, const cc_grant_t *grant, uint64_t after,
                          uint32_t max)
{
    s_make_room(self, ident, ident_len);
    size_t n = 0;
    s_waiter_t **pp = &self->fresh, **oldest = NULL;
    while (*pp) {
        s_waiter_t *w = *pp;
        if (!w->fn && w->ident_len == ident_len && memcmp(w->ident, ident, ident_len) == 0) {
            *pp = w->next;
            s_waiter_free(w);
            continue;
        }
        n++;
        if (!w->fn)
            oldest = pp;
        pp = &w->next;
    }
    if (n >= S_WAITERS_MAX && oldest) {
        s_waiter_t *w = *oldest;
        *oldest = w->next;
        cc_metric_inc(self->m_evicted);
        s_waiter_free(w);
    }
    s_waiter_t *w = calloc(1, sizeof *w);
    if (!w || !(w->ident = malloc(ident_len ? ident_len : 1))) {
        free(w);
        return;   /* the consumer's timeout re-sends */
    }
    memcpy(w->ident, ident, ident_len);
    w->ident_len = ident_len;
    w->log = self;
    w->grant = grant;
    w->after_seq = after;
    w->max_events = max;
    snprintf(w->req_id, sizeof w->req_id, "%s", req_id);
    w->need_scan = s_fresh_scan(self);
    w->next = self->fresh;
    self->fresh = w;
    cc_metric_inc(self->m_fresh);
}

int cc_evlog_sync(cc_evlog_t *self, cc_evlog_sync_fn *fn, void *arg)
{
    s_waiter_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->log = self;
    w->fn = fn;
    w->arg = arg;
    w->need_scan = s_fresh_scan(self);
    w->next = self->fresh;
    self->fresh = w;
    return 0;
}

static void s_reader_saw(cc_evlog_t *self, const char *who, uint64_t after)
{
    if (!who)
        return;
    for (int i = 0; i < self->nreaders; i++)
        if (strcmp(self->readers[i].name, who) == 0) {
            self->readers[i].seq = after;
            self->readers[i].reported = 1;
            return;
        }
}

static void s_on_fetch(cc_zsock_t *sock, const void *const *frames, const size_t *lens,
                       int nframes, void *arg)
{
    cc_evlog_t *self = arg;
    cc_metric_inc(self->m_fetch);
    if (nframes != 2) {
        cc_metric_inc(self->m_rejected);
        cc_warn("evlog_rejected", "producer", self->producer, "reason", "frames");
        return;
    }
    Cc__Envelope *env = cc__envelope__unpack(NULL, lens[1], frames[1]);
    if (!env || strcmp(env->type, "Fetch") != 0) {
        cc_metric_inc(self->m_rejected);
        cc_warn("evlog_rejected", "producer", self->producer,
                "reason", env ? "type" : "malformed");
        if (env)
            cc__envelope__free_unpacked(env, NULL);
        return;
    }
    Cc__Fetch *f = cc__fetch__unpack(NULL, env->payload.len, env->payload.data);
    if (!f) {
        cc_metric_inc(self->m_rejected);
        cc_warn("evlog_rejected", "producer", self->producer, "reason", "malformed_fetch");
        cc__envelope__free_unpacked(env, NULL);
        return;
    }
    uint32_t max = f->max_events == 0 || f->max_events > S_REPLY_MAX_EVENTS
                       ? S_REPLY_MAX_EVENTS : f->max_events;
    uint32_t wait_ms = f->wait_ms > S_WAIT_MAX_MS ? S_WAIT_MAX_MS : f->wait_ms;
    uint64_t after = f->after_seq;
    char req_id[64];
    snprintf(req_id, sizeof req_id, "%s", env->id);
    /* Where the reader stands, for pruning: known by the CURVE User-Id
     * when there is one (authenticated), else what the Fetch says
     * (plaintext: unit tests). */
    const char *who = cc_zsock_user_id(sock);
    s_reader_saw(self, who ? who : f->consumer, after);
    cc__fetch__free_unpacked(f, NULL);
    cc__envelope__free_unpacked(env, NULL);
    /* Who asks is who the handshake proved (the ZAP User-Id), never what
     * the Fetch claims (Fetch.consumer is for logs only). */
    const cc_grant_t *grant = self->grants
        ? cc_grant_find(self->grants, self->producer, cc_zsock_user_id(sock)) : NULL;

    if (wait_ms == 0) {
        s_fetch_fresh(self, frames[0], lens[0], req_id, grant, after, max);
        return;
    }
    if (self->head_loaded && after < self->head) {
        ProtobufCBinaryData items[S_REPLY_MAX_EVENTS];
        int covered;
        size_t n = s_ring_collect(self, after, max, grant, items, &covered);
        if (covered) {
            s_send_events(self, frames[0], lens[0], req_id, items, n);
            return;
        }
        uint8_t *ident = malloc(lens[0] ? lens[0] : 1);
        if (!ident)
            return;
        memcpy(ident, frames[0], lens[0]);
        s_catchup_start(self, ident, lens[0], req_id, grant, after, max);
        return;
    }
    /* Nothing new yet, or the head is not loaded yet (database down at
     * start): park until a scan or wait_ms (long poll). Answering at once
     * would have every consumer re-fetch in a tight loop meanwhile. */
    s_waiter_t *w = calloc(1, sizeof *w);
    if (!w || !(w->ident = malloc(lens[0] ? lens[0] : 1))) {
        free(w);
        return;
    }
    memcpy(w->ident, frames[0], lens[0]);
    w->ident_len = lens[0];
    s_make_room(self, w->ident, w->ident_len);
    w->log = self;
    w->grant = grant;
    w->after_seq = after;
    w->max_events = max;
    snprintf(w->req_id, sizeof w->req_id, "%s", req_id);
    w->timer = evtimer_new(self->base, s_on_waiter_timeout, w);
    struct timeval tv = { wait_ms / CC_MS_PER_S, (wait_ms % CC_MS_PER_S) * CC_US_PER_MS };
    evtimer_add(w->timer, &tv);
    w->next = self->waiters;
    self->waiters = w;
}

cc_evlog_t *cc_evlog_new(struct event_base *base, void *zctx, cc_db_t *reader, cc_db_t *writer,
                         const char *producer, const char *endpoint, size_t ring_size)
{
    return cc_evlog_new_curve(base, zctx, reader, writer, producer, endpoint, ring_size, NULL);
}

cc_evlog_t *cc_evlog_new_curve(struct event_base *base, void *zctx, cc_db_t *reader,
                               cc_db_t *writer, const char *producer, const char *endpoint,
                               size_t ring_size, const char *secret_key)
{
    cc_evlog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->base = base;
    self->reader = reader;
    self->writer = writer;
    snprintf(self->producer, sizeof self->producer, "%s", producer);
    self->ring_size = ring_size < 16 ? 16 : ring_size;
    self->ring = calloc(self->ring_size, sizeof *self->ring);
    char m[160];
    snprintf(m, sizeof m, "evlog_fetch_total{log=\"%s\"}", producer);
    self->m_fetch = cc_metrics_counter(m, "Fetch requests received");
    snprintf(m, sizeof m, "zmq_rejected_total{socket=\"%s-log\",reason=\"malformed\"}", producer);
    self->m_rejected = cc_metrics_counter(m, "ZeroMQ messages rejected");
    snprintf(m, sizeof m, "evlog_events_served_total{log=\"%s\"}", producer);
    self->m_served = cc_metrics_counter(m, "Events sent to consumers");
    snprintf(m, sizeof m, "evlog_head_seq{log=\"%s\"}", producer);
    self->m_head = cc_metrics_gauge(m, "Last committed sequence number");
    snprintf(m, sizeof m, "evlog_catchup_reads_total{log=\"%s\"}", producer);
    self->m_catchup = cc_metrics_counter(m, "Fetches served from the table");
    snprintf(m, sizeof m, "evlog_fetch_evicted_total{log=\"%s\"}", producer);
    self->m_evicted = cc_metrics_counter(m, "Parked Fetches dropped unanswered: too many parked");
    snprintf(m, sizeof m, "evlog_fresh_fetch_total{log=\"%s\"}", producer);
    self->m_fresh = cc_metrics_counter(m, "Fetches with wait_ms 0, answered after a fresh "
                                          "read of the table (read your writes)");
    snprintf(m, sizeof m, "evlog_catchup_refused_total{log=\"%s\"}", producer);
    self->m_catchup_refused = cc_metrics_counter(m, "Fetches dropped: table reads in flight "
                                                 "at their bound");
    snprintf(m, sizeof m, "evlog_pruned_total{log=\"%s\",table=\"events\"}", producer);
    self->m_pruned_events = cc_metrics_counter(m, "Log rows pruned");
    snprintf(m, sizeof m, "evlog_pruned_total{log=\"%s\",table=\"inbox\"}", producer);
    self->m_pruned_inbox = cc_metrics_counter(m, "Log rows pruned");
    snprintf(m, sizeof m, "evlog_prune_floor_seq{log=\"%s\"}", producer);
    self->m_floor = cc_metrics_gauge(m, "Every reader of the log is past this seq (-1: "
                                        "a reader has not reported)");
    snprintf(m, sizeof m, "evlog_prune_passes_total{log=\"%s\"}", producer);
    self->m_passes = cc_metrics_counter(m, "Pruning passes done (failed ones included)");
    snprintf(m, sizeof m, "evlog_fetch_pruned_total{log=\"%s\"}", producer);
    self->m_pruned_past = cc_metrics_counter(m, "Fetches asking for events already pruned");
    char sname[48];
    snprintf(sname, sizeof sname, "%s-log", producer);
    self->router = cc_zsock_new(base, zctx, ZMQ_ROUTER, CC_EVLOG_MAX_REQUEST, sname,
                                s_on_fetch, self);
    if (!self->ring || !self->router
        || (secret_key && cc_zsock_curve_server(self->router, secret_key) != 0)
        || cc_zsock_bind(self->router, endpoint) != 0) {
        cc_evlog_destroy(&self);
        return NULL;
    }
    /* Without its statements, its LISTEN or its tick the log would look
     * alive and never serve: fail instead (the destructor forgets whatever
     * was registered in the dbs). */
    char chan[64];
    snprintf(chan, sizeof chan, "%s_events", producer);
    self->ev_tick = event_new(base, -1, EV_PERSIST, s_on_tick, self);
    struct timeval tv = { 1, 0 };
    if (cc_db_prepare(reader, "cc_evlog_head", S_SQL_HEAD) != 0 ||
        cc_db_prepare(reader, "cc_evlog_scan", S_SQL_SCAN) != 0 ||
        cc_db_prepare(reader, "cc_evlog_prune", S_SQL_PRUNE) != 0 ||
        cc_db_listen(reader, chan, s_on_notify, self) != 0 || !self->ev_tick ||
        event_add(self->ev_tick, &tv) != 0) {
        cc_evlog_destroy(&self);
        return NULL;
    }
    cc_db_on_connect(reader, s_on_reader_connect, self);
    if (writer)
        cc_db_on_commit(writer, s_on_writer_commit, self);
    if (cc_db_connected(reader))
        s_on_reader_connect(self);
    return self;
}

void cc_evlog_destroy(cc_evlog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_evlog_t *self = *self_p;
    /* The databases outlive us: nothing of theirs may call us back. */
    if (self->reader)
        cc_db_forget(self->reader, self);
    if (self->writer)
        cc_db_forget(self->writer, self);
    while (self->catchups) {
        s_catchup_t *c = self->catchups;
        s_catchup_unlink(self, c);
        cc_db_forget(self->reader, c);
        free(c->ident);
        free(c);
    }
    while (self->waiters) {
        s_waiter_t *w = self->waiters;
        self->waiters = w->next;
        s_waiter_free(w);
    }
    while (self->fresh) {   /* local syncs are dropped uncalled (see cc_evlog_sync) */
        s_waiter_t *w = self->fresh;
        self->fresh = w->next;
        s_waiter_free(w);
    }
    if (self->ev_tick)
        event_free(self->ev_tick);
    if (self->ev_prune)
        event_free(self->ev_prune);
    free(self->clients_arr);
    free(self->logs_arr);
    if (self->ring)
        for (size_t i = 0; i < self->ring_size; i++) {
            free(self->ring[i].bytes);
            free(self->ring[i].type);
            free(self->ring[i].marker);
        }
    free(self->ring);
    cc_zsock_destroy(&self->router);
    free(self);
    *self_p = NULL;
}

int cc_evlog_ready(const cc_evlog_t *self)
{
    /* Sticky: a scan runs after every commit, and readiness must not flap
     * with the write rate (a load balancer would drop a busy daemon). */
    return self->head_loaded && self->scanned;
}

uint64_t cc_evlog_head(const cc_evlog_t *self)
{
    return self->head;
}

void cc_evlog_filter(cc_evlog_t *self, const cc_grant_t *grants)
{
    self->grants = grants;
}

void cc_evlog_poke(cc_evlog_t *self)
{
    s_scan(self);
}

const char *cc_evlog_endpoint(const cc_evlog_t *self)
{
    return cc_zsock_endpoint(self->router);
}
/* The next non-empty name of a comma-separated list, blanks trimmed;
 * 0 at the end. */
static int s_list_next(const char **pp, const char **name, size_t *len)
{
    const char *p = *pp;
    while (*p) {
        size_t l = strcspn(p, ",");
        const char *n = p;
        p += l;
        if (*p == ',')
            p++;
        while (l > 0 && (*n == ' ' || *n == '\t')) {
            n++;
            l--;
        }
        while (l > 0 && (n[l - 1] == ' ' || n[l - 1] == '\t'))
            l--;
        if (l > 0) {
            *pp = p;
            *name = n;
            *len = l;
            return 1;
        }
    }
    *pp = p;
    return 0;
}


/* ---- pruning (sql/common/012_log_prune.sql) -------------------------------- */

/* The comma-separated names in list as an SQL array literal ("{"a","b"}"),
 * each double-quoted; NULL when out of memory or a name is unfit (quotes,
 * backslashes, braces or longer than 31 bytes: not a party's name). */
static char *s_sql_array(const char *list)
{
    size_t cap = 3 + (list ? strlen(list) * 3 + 3 : 0);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    out[n++] = '{';
    const char *p = list ? list : "";
    const char *name;
    size_t len;
    while (s_list_next(&p, &name, &len)) {
        if (len > 31 || strcspn(name, "\"\\{}") < len) {
            free(out);
            return NULL;
        }
        if (n > 1)
            out[n++] = ',';
        out[n++] = '"';
        memcpy(out + n, name, len);
        n += len;
        out[n++] = '"';
    }
    out[n++] = '}';
    out[n] = 0;
    return out;
}

static void s_prune_arm(cc_evlog_t *self, int64_t ms)
{
    struct timeval tv = { (time_t) (ms / CC_MS_PER_S), (suseconds_t) (ms % CC_MS_PER_S) * 1000 };
    evtimer_add(self->ev_prune, &tv);
}

static void s_on_prune(PGresult *res, void *arg)
{
    cc_evlog_t *self = arg;
    self->pruning = 0;
    cc_metric_inc(self->m_passes);
    int64_t next_ms = self->interval_s * CC_MS_PER_S;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_warn("evlog_prune_failed", "producer", self->producer, "sqlstate", st ? st : "");
    } else {
        int known = !PQgetisnull(res, 0, 0);
        double ev = strtod(PQgetvalue(res, 0, 1), NULL);
        double in = strtod(PQgetvalue(res, 0, 2), NULL);
        cc_metric_add(self->m_pruned_events, ev);
        cc_metric_add(self->m_pruned_inbox, in);
        cc_metric_set(self->m_floor, known ? strtod(PQgetvalue(res, 0, 0), NULL) : -1.0);
        if (!known && self->floor_known)
            cc_info("evlog_prune_waiting", "producer", self->producer,
                    "why", "a reader of the log has not reported its position");
        self->floor_known = known;
        if (ev > 0 || in > 0) {
            char e[24], i[24];
            snprintf(e, sizeof e, "%.0f", ev);
            snprintf(i, sizeof i, "%.0f", in);
            cc_debug("evlog_pruned", "producer", self->producer, "events", e, "inbox", i);
        }
        if (*PQgetvalue(res, 0, 3) == 't')
            next_ms = S_PRUNE_AGAIN_MS;
    }
    if (self->interval_s > 0)
        s_prune_arm(self, next_ms);
}

int cc_evlog_prune_now(cc_evlog_t *self)
{
    if (self->pruning || !self->clients_arr || !self->head_loaded || !self->scanned)
        return -1;
    /* The readers heard from: names and positions as two arrays. */
    size_t cap = 3 + (size_t) self->nreaders * 40;
    char *names = malloc(cap), *seqs = malloc(cap);
    if (!names || !seqs) {
        free(names);
        free(seqs);
        return -1;
    }
    size_t nn = 0, ns = 0;
    names[nn++] = '{';
    seqs[ns++] = '{';
    const char *sep = "";
    for (int i = 0; i < self->nreaders; i++) {
        const s_reader_t *r = &self->readers[i];
        if (!r->reported)
            continue;
        nn += (size_t) snprintf(names + nn, cap - nn, "%s\"%s\"", sep, r->name);
        ns += (size_t) snprintf(seqs + ns, cap - ns, "%s%" PRIu64, sep, r->seq);
        sep = ",";
    }
    snprintf(names + nn, cap - nn, "}");
    snprintf(seqs + ns, cap - ns, "}");
    char keep[24], upto[24];
    snprintf(keep, sizeof keep, "%" PRId64, self->keep_s);
    /* Never past what the ring has scanned: a scan in flight reads on from
     * there and must not meet a hole. */
    snprintf(upto, sizeof upto, "%" PRIu64, self->head);
    const char *v[7] = { names, seqs, self->clients_arr, self->logs_arr, keep, S_PRUNE_BATCH,
                         upto };
    int rc = cc_db_exec(self->reader, "cc_evlog_prune", 7, v, NULL, NULL, s_on_prune, self);
    free(names);
    free(seqs);
    if (rc != 0)
        return -1;
    self->pruning = 1;
    return 0;
}

static void s_on_prune_timer(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    cc_evlog_t *self = arg;
    if (cc_evlog_prune_now(self) != 0 && !self->pruning)
        s_prune_arm(self, self->interval_s * CC_MS_PER_S);   /* not ready yet: later */
}

int cc_evlog_prune_set(cc_evlog_t *self, const char *readers, const char *inbox_logs,
                       int64_t keep_s, int64_t interval_s)
{
    char *clients = s_sql_array(readers);
    char *logs = s_sql_array(inbox_logs);
    if (!clients || !logs) {
        free(clients);
        free(logs);
        return -1;
    }
    s_reader_t rd[S_READERS_MAX];
    int n = 0;
    const char *p = readers ? readers : "";
    const char *name;
    size_t len;
    while (s_list_next(&p, &name, &len)) {
        if (n == S_READERS_MAX) {
            free(clients);
            free(logs);
            return -1;
        }
        memset(&rd[n], 0, sizeof rd[n]);
        memcpy(rd[n].name, name, len);   /* len <= 31: s_sql_array checked */
        n++;
    }
    if (!self->ev_prune && !(self->ev_prune = evtimer_new(self->base, s_on_prune_timer, self))) {
        free(clients);
        free(logs);
        return -1;
    }
    free(self->clients_arr);
    free(self->logs_arr);
    self->clients_arr = clients;
    self->logs_arr = logs;
    memcpy(self->readers, rd, sizeof rd);
    self->nreaders = n;
    self->keep_s = keep_s < 0 ? 0 : keep_s;
    self->interval_s = interval_s < 0 ? 0 : interval_s;
    self->floor_known = 1;
    evtimer_del(self->ev_prune);
    if (self->interval_s > 0)
        s_prune_arm(self, self->interval_s * CC_MS_PER_S);
    return 0;
}
