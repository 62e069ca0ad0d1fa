/* cc_revoke: see cc_revoke.h. */
#include "cc_revoke.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_rt.h"
#include "cc_map.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef struct {
    int64_t gen;
    int disabled;
} s_entry_t;

struct cc_revoke {
    cc_map_t *accounts;          /* account id -> s_entry_t */
    size_t disabled;             /* entries with disabled set */
    int loaded;                  /* the first load is in */
};

cc_revoke_t *cc_revoke_new(void)
{
    cc_revoke_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->accounts = cc_map_new();
    if (!self->accounts) {
        free(self);
        return NULL;
    }
    return self;
}

void cc_revoke_destroy(cc_revoke_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_map_destroy(&(*self_p)->accounts, free);
    free(*self_p);
    *self_p = NULL;
}

int cc_revoke_set(cc_revoke_t *self, const char *account, int64_t gen, int disabled)
{
    if (!account || !*account || strlen(account) > CC_JWT_SUB_MAX || gen < 0)
        return -1;
    disabled = disabled ? 1 : 0;
    s_entry_t *e = cc_map_get(self->accounts, account);
    if (!e) {
        e = malloc(sizeof *e);
        if (!e)
            return -1;
        e->gen = gen;
        e->disabled = disabled;
        if (cc_map_put(self->accounts, account, e, NULL) != 0) {
            free(e);
            return -1;
        }
        self->disabled += (size_t)disabled;
        return 0;
    }
    if (gen < e->gen)
        return 0;            /* old news */
    int now = gen > e->gen ? disabled : (e->disabled | disabled);
    self->disabled = self->disabled - (size_t)e->disabled + (size_t)now;
    e->gen = gen;
    e->disabled = now;
    return 0;
}

void cc_revoke_set_loaded(cc_revoke_t *self)
{
    self->loaded = 1;
}

int cc_revoke_loaded(const cc_revoke_t *self)
{
    return self->loaded;
}

cc_revoke_verdict_t cc_revoke_check(const cc_revoke_t *self, const char *sub, int64_t gen)
{
    if (!self || !self->loaded)
        return CC_REVOKE_NOT_LOADED;
    const s_entry_t *e = sub ? cc_map_get(self->accounts, sub) : NULL;
    if (!e)
        return CC_REVOKE_OK;
    return e->disabled || gen < e->gen ? CC_REVOKE_REVOKED : CC_REVOKE_OK;
}

int64_t cc_revoke_gen(const cc_revoke_t *self, const char *account, int *disabled)
{
    const s_entry_t *e = cc_map_get(self->accounts, account);
    if (disabled)
        *disabled = e ? e->disabled : 0;
    return e ? e->gen : 0;
}

size_t cc_revoke_size(const cc_revoke_t *self)
{
    return cc_map_size(self->accounts);
}

size_t cc_revoke_disabled(const cc_revoke_t *self)
{
    return self->disabled;
}

/* ---- the default table and its sync ---------------------------------------- */
static cc_revoke_t *s_default;
static struct {
    struct event_base *base;
    cc_db_t *reader;
    const cc_stmt_t *load, *apply;
    struct event *ev;            /* reload timer */
    int in_flight;               /* a load is queued */
    cc_metric_t *m_size, *m_disabled, *m_ok, *m_failed, *m_refused;
} s_sync;

cc_revoke_t *cc_revoke_default(void)
{
    if (!s_default)
        s_default = cc_revoke_new();
    return s_default;
}

static void s_gauges(void)
{
    if (s_sync.m_size && s_default) {
        cc_metric_set(s_sync.m_size, (double)cc_revoke_size(s_default));
        cc_metric_set(s_sync.m_disabled, (double)cc_revoke_disabled(s_default));
    }
}

int cc_revoke_ok(const cc_jwt_claims_t *c)
{
    if (cc_revoke_check(cc_revoke_default(), c->sub, c->gen) == CC_REVOKE_OK)
        return 1;
    if (s_sync.m_refused)
        cc_metric_inc(s_sync.m_refused);
    return 0;
}

static void s_on_loaded(PGresult *res, void *arg)
{
    (void)arg;
    s_sync.in_flight = 0;
    cc_revoke_t *t = cc_revoke_default();
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* Keep the table: stale by at most the time the store is away,
         * and access tokens expire within 15 minutes anyway. */
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_warn("revoke_reload_failed", "sqlstate", st ? st : "");
        cc_metric_inc(s_sync.m_failed);
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long long gen = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        int disabled = PQgetvalue(res, r, 2)[0] == 't';
        if (cc_revoke_set(t, PQgetvalue(res, r, 0), gen, disabled) != 0) {
            cc_error("out_of_memory", "what", "revoke");
            exit(1);
        }
    }
    if (!cc_revoke_loaded(t)) {
        char n[24];
        snprintf(n, sizeof n, "%zu", cc_revoke_size(t));
        cc_info("revoke_loaded", "accounts", n);
    }
    cc_revoke_set_loaded(t);
    cc_metric_inc(s_sync.m_ok);
    s_gauges();
}

static void s_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (s_sync.in_flight)
        return;
    cc_args_t a;
    cc_args_init(&a, s_sync.load);
    if (cc_db_call(s_sync.reader, &a, s_on_loaded, NULL) == 0)
        s_sync.in_flight = 1;
    else
        cc_metric_inc(s_sync.m_failed);
}

int cc_revoke_sync_start(struct event_base *base, cc_db_t *reader, const cc_stmt_t *load,
                         const cc_stmt_t *apply, int refresh_s)
{
    if (!base || !reader || !load || refresh_s < 1 || refresh_s > 3600 || s_sync.ev
        || !cc_revoke_default())
        return -1;
    s_sync.base = base;
    s_sync.reader = reader;
    s_sync.load = load;
    s_sync.apply = apply;
    s_sync.m_size = cc_metrics_gauge("revoke_accounts", "Accounts with a raised token "
                                     "generation in the revocation table");
    s_sync.m_disabled = cc_metrics_gauge("revoke_disabled_accounts",
                                         "Disabled accounts in the revocation table");
    s_sync.m_ok = cc_metrics_counter("revoke_reloads_total{outcome=\"ok\"}",
                                     "Reloads of the revocation table");
    s_sync.m_failed = cc_metrics_counter("revoke_reloads_total{outcome=\"failed\"}",
                                         "Reloads of the revocation table");
    s_sync.m_refused = cc_metrics_counter("auth_tokens_revoked_total",
                                          "Valid tokens refused: account disabled, old gen, "
                                          "or table not loaded");
    s_sync.ev = event_new(base, -1, EV_PERSIST, s_on_timer, NULL);
    struct timeval tv = { refresh_s, 0 };
    if (!s_sync.ev || event_add(s_sync.ev, &tv) != 0)
        return -1;
    event_active(s_sync.ev, EV_TIMEOUT, 0);   /* the first load now */
    return 0;
}

void cc_revoke_sync_stop(void)
{
    if (s_sync.ev) {
        event_free(s_sync.ev);
        s_sync.ev = NULL;
    }
}

int cc_revoke_on_account_changed(cc_consumer_t *c, const Cc__Envelope *env,
                                 const ProtobufCMessage *msg, void *arg)
{
    (void)arg;
    const Cc__AccountChanged *m = (const Cc__AccountChanged *)msg;
    /* Refuse at once: the store catches up with the commit below. */
    if (cc_revoke_set(cc_revoke_default(), m->account_id, m->gen, m->disabled) != 0)
        return -1;
    s_gauges();
    if (!s_sync.apply)
        return 0;
    char gen[24];
    snprintf(gen, sizeof gen, "%lld", (long long)m->gen);
    cc_args_t a;
    cc_args_init(&a, s_sync.apply);
    cc_args_text(&a, "producer", "orderd");
    cc_args_int(&a, "seq", (int64_t)env->seq);
    cc_args_text(&a, "event_id", env->id);
    cc_args_text(&a, "account", m->account_id);
    cc_args_int(&a, "gen", m->gen);
    cc_args_bool(&a, "disabled", m->disabled);
    if (cc_consumer_call(c, &a, NULL, NULL) != 0)
        cc_rt_fatal(s_sync.apply->name, NULL);
    cc_info("account_changed", "account_id", m->account_id, "gen", gen,
            "disabled", m->disabled ? "true" : "false");
    return 0;
}
