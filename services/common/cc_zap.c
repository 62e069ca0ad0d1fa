/* cc_zap: the ZAP handler. See cc_zap.h. */
#include "cc_zap.h"
#include "cc_curve.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "cc_zsock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_DOMAIN_MAX 48
#define S_LOG_EVERY_US 1000000
/* RFC 27 requests are a few hundred bytes; a larger one is not from libzmq. */
#define S_MAX_REQUEST 4096

typedef struct {
    uint8_t key[CC_CURVE_RAW_LEN];      /* client long-term public key */
    char who[CC_CURVE_NAME_MAX + 1];    /* its party's name: the User-Id */
} s_entry_t;

typedef struct {
    char name[S_DOMAIN_MAX];            /* ZMQ_ZAP_DOMAIN = the socket's name */
    s_entry_t *keys;                    /* allow-list, owned */
    size_t nkeys, cap;
    cc_metric_t *m_accepted;
    cc_metric_t *m_rejected_key;        /* unlisted key */
    cc_metric_t *m_rejected_req;        /* malformed request, other mechanism */
    int64_t last_log_us;                /* rate limit of rejection lines */
    int64_t unlogged;                   /* rejections since the last line */
} s_domain_t;

struct cc_zap {
    cc_zsock_t *rep;                    /* REP bound at CC_ZAP_ENDPOINT */
    s_domain_t *domains;                /* owned */
    size_t ndomains, cap;
    s_domain_t unknown;                 /* counts requests for undeclared domains */
};

static s_domain_t *s_find(const cc_zap_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->ndomains; i++) {
        s_domain_t *d = &self->domains[i];
        if (strlen(d->name) == len && memcmp(d->name, name, len) == 0)
            return d;
    }
    return NULL;
}

static void s_metrics(s_domain_t *d)
{
    char m[160];
    snprintf(m, sizeof m, "zmq_auth_accepted_total{socket=\"%s\"}", d->name);
    d->m_accepted = cc_metrics_counter(m, "CURVE clients admitted by the ZAP handler");
    snprintf(m, sizeof m, "zmq_auth_rejected_total{socket=\"%s\",reason=\"key\"}", d->name);
    d->m_rejected_key = cc_metrics_counter(m, "ZeroMQ peers refused at the handshake");
    snprintf(m, sizeof m, "zmq_auth_rejected_total{socket=\"%s\",reason=\"request\"}", d->name);
    d->m_rejected_req = cc_metrics_counter(m, "ZeroMQ peers refused at the handshake");
}

/* Copy frame i as a C string into out, or "" if absent or too long. */
static void s_frame_str(char *out, size_t outlen, const void *const *frames, const size_t *lens,
                        int n, int i)
{
    out[0] = '\0';
    if (i < n && lens[i] < outlen) {
        memcpy(out, frames[i], lens[i]);
        out[lens[i]] = '\0';
    }
}

static void s_reply(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                    const char *status, const char *text, const char *user)
{
    /* RFC 27 reply: version, request id (echoed), status code, status text,
     * user id, metadata. */
    const void *f[6] = { "1.0", n > 1 ? frames[1] : "", status, text, user, "" };
    size_t l[6] = { 3, n > 1 ? lens[1] : 0, 3, strlen(text), strlen(user), 0 };
    cc_zsock_sendv(sock, f, l, 6);
}

static void s_reject_log(s_domain_t *d, const char *reason, const char *fp, const char *addr)
{
    int64_t now = cc_mono_us();
    if (d->last_log_us && now - d->last_log_us < S_LOG_EVERY_US) {
        d->unlogged++;
        return;
    }
    char more[24];
    snprintf(more, sizeof more, "%lld", (long long) d->unlogged);
    cc_warn("zmq_auth_rejected", "socket", d->name, "reason", reason, "key", fp, "peer", addr,
            "unlogged", more);
    d->last_log_us = now;
    d->unlogged = 0;
}

static void s_on_request(cc_zsock_t *sock, const void *const *frames, const size_t *lens,
                         int n, void *arg)
{
    cc_zap_t *self = arg;
    /* Request: version, request id, domain, address, routing id, mechanism,
     * credentials... (RFC 27). */
    char addr[64], mech[16], fp[9] = "-";
    s_frame_str(addr, sizeof addr, frames, lens, n, 3);
    s_frame_str(mech, sizeof mech, frames, lens, n, 5);
    s_domain_t *d = n > 2 ? s_find(self, frames[2], lens[2]) : NULL;
    if (!d)
        d = &self->unknown;
    int well_formed = n >= 7 && lens[0] == 3 && memcmp(frames[0], "1.0", 3) == 0
                      && strcmp(mech, "CURVE") == 0 && lens[6] == CC_CURVE_RAW_LEN;
    if (!well_formed || d == &self->unknown) {
        cc_metric_inc(d->m_rejected_req);
        s_reject_log(d, well_formed ? "domain" : "request", fp, addr);
        s_reply(sock, frames, lens, n, "400", "not admitted", "");
        return;
    }
    const uint8_t *key = frames[6];
    cc_curve_fingerprint(key, fp);
    for (size_t i = 0; i < d->nkeys; i++) {
        if (memcmp(d->keys[i].key, key, CC_CURVE_RAW_LEN) == 0) {
            cc_metric_inc(d->m_accepted);
            cc_debug("zmq_auth_accepted", "socket", d->name, "client", d->keys[i].who,
                     "key", fp, "peer", addr);
            s_reply(sock, frames, lens, n, "200", "OK", d->keys[i].who);
            return;
        }
    }
    cc_metric_inc(d->m_rejected_key);
    s_reject_log(d, "key", fp, addr);
    s_reply(sock, frames, lens, n, "400", "not admitted", "");
}

cc_zap_t *cc_zap_new(struct event_base *base, void *zctx)
{
    cc_zap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->unknown.name, sizeof self->unknown.name, "unknown");
    s_metrics(&self->unknown);
    self->rep = cc_zsock_new(base, zctx, ZMQ_REP, S_MAX_REQUEST, "zap", s_on_request, self);
    if (!self->rep || cc_zsock_bind(self->rep, CC_ZAP_ENDPOINT) != 0) {
        cc_zap_destroy(&self);
        return NULL;
    }
    return self;
}

void cc_zap_destroy(cc_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_zap_t *self = *self_p;
    cc_zsock_destroy(&self->rep);
    for (size_t i = 0; i < self->ndomains; i++)
        free(self->domains[i].keys);
    free(self->domains);
    free(self);
    *self_p = NULL;
}

int cc_zap_domain(cc_zap_t *self, const char *domain)
{
    size_t len = domain ? strlen(domain) : 0;
    if (len == 0 || len >= S_DOMAIN_MAX || strchr(domain, '"') || strchr(domain, '\\'))
        return -1;
    if (s_find(self, domain, len))
        return 0;
    if (cc_grow(&self->domains, &self->cap, self->ndomains + 1, sizeof *self->domains, 4) != 0)
        return -1;
    s_domain_t *d = &self->domains[self->ndomains++];
    memset(d, 0, sizeof *d);
    memcpy(d->name, domain, len + 1);
    s_metrics(d);
    return 0;
}

int cc_zap_allow(cc_zap_t *self, const char *domain, const char *who, const char *public_z85)
{
    if (!cc_curve_key_valid(public_z85) || cc_zap_domain(self, domain) != 0)
        return -1;
    s_domain_t *d = s_find(self, domain, strlen(domain));
    if (cc_grow(&d->keys, &d->cap, d->nkeys + 1, sizeof *d->keys, 4) != 0)
        return -1;
    s_entry_t *e = &d->keys[d->nkeys++];
    zmq_z85_decode(e->key, public_z85);
    snprintf(e->who, sizeof e->who, "%s", who ? who : "");
    return 0;
}

int cc_zap_allow_names(cc_zap_t *self, const char *domain, const char *dir, const char *names,
                       char *why, size_t whylen)
{
    if (cc_zap_domain(self, domain) != 0) {
        snprintf(why, whylen, "bad ZAP domain");
        return -1;
    }
    const char *p = names ? names : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        char name[CC_CURVE_NAME_MAX + 2];
        if (len > CC_CURVE_NAME_MAX)
            len = CC_CURVE_NAME_MAX + 1;   /* too long: refused below */
        memcpy(name, p, len);
        name[len] = '\0';
        p = comma ? comma + 1 : p + strlen(p);
        if (len == 0)
            continue;
        char path[4096], key[CC_CURVE_Z85_LEN + 1], err[128];
        if (cc_curve_path(path, sizeof path, dir, name, "pub") != 0) {
            snprintf(why, whylen, "bad client name \"%s\" (want [a-z0-9_-]{1,32})", name);
            return -1;
        }
        if (cc_curve_read_public(path, key, err, sizeof err) != 0) {
            snprintf(why, whylen, "%s: %s", path, err);
            return -1;
        }
        if (cc_zap_allow(self, domain, name, key) != 0) {
            snprintf(why, whylen, "%s: cannot admit", path);
            return -1;
        }
    }
    return 0;
}

size_t cc_zap_allowed(const cc_zap_t *self, const char *domain)
{
    const s_domain_t *d = domain ? s_find(self, domain, strlen(domain)) : NULL;
    return d ? d->nkeys : 0;
}
