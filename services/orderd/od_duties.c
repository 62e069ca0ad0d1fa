/* od_duties: see od_duties.h and docs/DUTIES.md. */
#include "od_duties.h"
#include "od_duty_rules.h"
#include "od_store.h"
#include "cc_stmt.h"
#include "cc_jwt.h"
#include "cc_log.h"
#include "cc_time.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <inttypes.h>

int64_t od_duties_horizon_days = 7;
int64_t od_duties_interval_s = 900;
int64_t od_duties_poll_s = 10;

/* A run places its orders S_BATCH to a statement (od_app_place_many), at
 * most S_INFLIGHT queued at once: few writer calls, and a transaction short
 * enough that a call centre's order queued behind it waits little. */
#define S_BATCH 128
#define S_INFLIGHT 256
#define S_WINDOW_START_MIN (9 * 60)
#define S_WINDOW_END_MIN (17 * 60)
/* Later than this (local), today's window is too short to be served: new
 * orders start tomorrow. */
#define S_LATEST_TODAY_MIN (15 * 60)

/* ---- statements (our own table, prepared on both connections) ------------- */
enum {
    S_ST_RULES, S_ST_ELDERS, S_ST_ORDERS, S_ST_CONTACTS, S_ST_CHANGES, S_ST_RULES_PUT,
    S_ST_CONTACT_ADD, S_ST_LIST_ELDER, S_ST_CAPACITY, S_ST_ON_CAPACITY, S_ST_COUNT
};
#define R CC_STMT_READER
#define W CC_STMT_WRITER
static cc_stmt_t s_stmts[S_ST_COUNT + 1] = {
    [S_ST_RULES] = { "od_duty_rules", R, NULL, NULL,
        "SELECT version, effective_from::text, rules::text, od_us(created_at), created_by "
        "FROM duty_rule_versions ORDER BY effective_from, version",
        { { NULL, CC_T_NONE } }, NULL },
    /* Active elders, their decision attributes (no personal data) and
     * their newest active card. */
    [S_ST_ELDERS] = { "od_duty_elders", R, NULL, NULL,
        "SELECT e.id, e.district_id, e.birth_date::text, e.ability_level, "
        "array_to_string(e.categories, ','), coalesce(e.assessed_on::text, ''), "
        "coalesce((SELECT c.id::text FROM cards c WHERE c.elder_id = e.id AND "
        "c.status = 'active' ORDER BY c.issued_at DESC LIMIT 1), '') "
        "FROM elders e WHERE e.status = 'active' "
        "AND ($1::integer IS NULL OR e.district_id = $1::integer) ORDER BY e.id",
        { { "district", CC_T_INT4 } }, NULL },
    [S_ST_ORDERS] = { "od_duty_orders", R, NULL, NULL,
        "SELECT o.idem_key, o.state, o.service, od_us(o.window_start), o.elder_id::text "
        "FROM orders o WHERE o.source = 'mandated' AND o.window_start >= od_ts($1::bigint)",
        { { "since_us", CC_T_INT8 } }, NULL },
    [S_ST_CONTACTS] = { "od_duty_contacts", R, NULL, NULL,
        "SELECT l.elder_id::text, od_us(l.at) FROM elder_contact_log l "
        "WHERE l.outcome = 'reached' AND l.at >= od_ts($1::bigint)",
        { { "since_us", CC_T_INT8 } }, NULL },
    /* What a run depends on, cheaply (indexes of migration 017): a change
     * in any part makes the next check kick a run. */
    [S_ST_CHANGES] = { "od_duty_changes", R, NULL, NULL,
        "SELECT concat_ws(':', (SELECT max(version) FROM duty_rule_versions), "
        "(SELECT od_us(max(updated_at)) FROM elders), (SELECT count(*) FROM elders), "
        "(SELECT count(*) FROM cards WHERE status = 'active'), "
        "(SELECT count(*) FROM elder_contact_log), "
        "(SELECT count(*) FROM orders WHERE source = 'mandated' AND "
        "state IN ('cancelled', 'failed', 'denied')))",
        { { NULL, CC_T_NONE } }, NULL },
    [S_ST_RULES_PUT] = { "od_duty_rules_put", W, "od_duty_rules_put", "outcome, version", NULL,
        { { "effective", CC_T_DATE }, { "rules", CC_T_JSONB }, { "by", CC_T_TEXT } }, NULL },
    [S_ST_CONTACT_ADD] = { "od_contact_log_add", W, "od_contact_log_add", "outcome", NULL,
        { { "id", CC_T_UUID }, { "elder", CC_T_UUID }, { "kind", CC_T_TEXT },
          { "at", CC_T_TSTZ }, { "outcome", CC_T_TEXT }, { "note", CC_T_TEXT },
          { "by", CC_T_TEXT } }, NULL },
    [S_ST_LIST_ELDER] = { "od_duty_list_elder", R, NULL, NULL,
        "SELECT " OD_STORE_ORDER_COLS ", o.source = 'mandated', "
        "CASE WHEN o.idem_key LIKE 'duty:%' THEN o.idem_key END FROM orders o "
        "WHERE o.elder_id = $1::uuid AND ($2::boolean IS NULL OR "
        "(o.source = 'mandated') = $2::boolean) AND ($3::text IS NULL OR o.state = $3::text) "
        "ORDER BY o.window_start DESC LIMIT $4::integer",
        { { "elder", CC_T_UUID }, { "mandated", CC_T_BOOL }, { "state", CC_T_TEXT },
          { "limit", CC_T_INT4 } }, NULL },
    /* dispatchd's latest figures (migration 022), from yesterday on (our
     * clock, not the database's). */
    [S_ST_CAPACITY] = { "od_duty_capacity", R, NULL, NULL,
        "SELECT district_id, (day - date '1970-01-01'), shift_min, planned_min, duty_min "
        "FROM duty_capacity WHERE day >= $1::date ORDER BY district_id, day",
        { { "from", CC_T_DATE } }, NULL },
    [S_ST_ON_CAPACITY] = { "od_on_capacity_reported", W, "od_on_capacity_reported", NULL,
        NULL,
        { { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID },
          { "district", CC_T_INT4 }, { "day", CC_T_DATE }, { "shift", CC_T_INT4 },
          { "planned", CC_T_INT4 }, { "duty", CC_T_INT4 }, { "caregivers", CC_T_INT4 },
          { "at", CC_T_INT8 } }, NULL },
    [S_ST_COUNT] = { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
};
#undef R
#undef W

/* ---- state ------------------------------------------------------------------ */
typedef struct s_snap s_snap_t;
typedef void (s_snap_done_fn)(s_snap_t *snap, int ok);

/* What a run or a coverage report reads, loaded in four queries. */
struct s_snap {
    od_app_t *app;
    od_duty_set_t *sets;
    int nsets;
    od_duty_elder_t *elders;
    int nelders;
    cc_map_t *index;           /* elder id -> index + 1 */
    cc_map_t *occ;             /* "rule:elder:period" -> od_duty_occ_t */
    /* Capacity (a run only): dispatchd's figures, then each district-day's
     * free minutes less the live duty orders on it (s_on_orders). */
    od_duty_cap_t *caps;
    int ncaps;
    int pending, failed;
    int32_t since;             /* INT32_MIN: from the rules (a run) */
    int run;                   /* a generator run: capacity read too */
    int32_t district;          /* -1: all */
    s_snap_done_fn *done;
    void *arg;
};

static struct {
    od_app_t *app;
    struct event *ev_run, *ev_poll, *ev_pump;
    int started;
    int stopping;              /* od_duties_stop: place nothing more */
    int running;
    int kicked;                /* a change arrived: run again after this one */
    int kick_timer;            /* ev_run is set for a kick: do not postpone it */
    int pumping;
    char changes[256];
    s_snap_t *snap;
    od_duty_due_t *due;
    int ndue, next, inflight;
    int64_t t0_us, created, existing, refused;
    od_duty_plan_stats_t stats;
    cc_metric_t *m_runs, *m_created, *m_existing, *m_refused, *m_no_card, *m_regen_cap;
    cc_metric_t *m_seconds, *m_load_seconds, *m_plan_seconds;
    cc_metric_t *m_deferred, *m_fitted, *m_capacity, *m_capacity_events;
    od_duty_fit_stats_t fit;
    cc_map_t *gauges;          /* name -> cc_metric_t (rates per district and duty) */
} S;

/* ---- the snapshot --------------------------------------------------------------- */
static void s_snap_free(s_snap_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nelders; i++) {
        free(s->elders[i].contact_days);
        free(s->elders[i].visit_days);
    }
    free(s->elders);
    free(s->sets);
    free(s->caps);
    cc_map_destroy(&s->index, NULL);
    cc_map_destroy(&s->occ, free);
    free(s);
}

static void s_oom(const char *what)
{
    cc_error("out_of_memory", "what", what);
    exit(1);
}

static void s_snap_step(s_snap_t *s)
{
    if (--s->pending == 0)
        s->done(s, !s->failed);
}

static int s_snap_bad(s_snap_t *s, PGresult *res, const char *what)
{
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        return 0;
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    s->failed = 1;
    s_snap_step(s);
    return 1;
}

static void s_snap_rest(s_snap_t *s);

/* Stored rule sets are ours (validated before they were stored); one that
 * does not parse is skipped and logged, never guessed at. */
static void s_on_rules(PGresult *res, void *arg)
{
    s_snap_t *s = arg;
    if (s_snap_bad(s, res, "duty_rules"))
        return;
    int n = PQntuples(res);
    s->sets = calloc((size_t)(n ? n : 1), sizeof *s->sets);
    if (!s->sets)
        s_oom("duties");
    for (int r = 0; r < n; r++) {
        od_duty_set_t *set = &s->sets[s->nsets];
        cc_err_t err;
        json_t *rules = json_loads(PQgetvalue(res, r, 2), 0, NULL);
        set->version = atoi(PQgetvalue(res, r, 0));
        if (od_duty_day_parse(PQgetvalue(res, r, 1), &set->effective_from) != 0 ||
            od_duty_rules_from_json(rules, set, &err) != 0) {
            cc_warn("duty_rules_unreadable", "version", PQgetvalue(res, r, 0));
            json_decref(rules);
            continue;
        }
        json_decref(rules);
        s->nsets++;
    }
    s_snap_rest(s);
    s_snap_step(s);
}

static int s_elder_at(s_snap_t *s, const char *id)
{
    intptr_t i = (intptr_t)cc_map_get(s->index, id);
    return i > 0 ? (int)i - 1 : -1;
}

static void s_on_elders(PGresult *res, void *arg)
{
    s_snap_t *s = arg;
    if (s_snap_bad(s, res, "duty_elders"))
        return;
    int n = PQntuples(res);
    s->elders = calloc((size_t)(n ? n : 1), sizeof *s->elders);
    if (!s->elders)
        s_oom("duties");
    for (int r = 0; r < n; r++) {
        od_duty_elder_t *e = &s->elders[s->nelders];
        snprintf(e->id, sizeof e->id, "%s", PQgetvalue(res, r, 0));
        e->district = (int32_t)atol(PQgetvalue(res, r, 1));
        if (od_date_parse(PQgetvalue(res, r, 2), &e->by, &e->bm, &e->bd) != 0)
            continue;
        e->ability = 0;
        for (int k = 0; od_ability_names[k]; k++)
            if (strcmp(od_ability_names[k], PQgetvalue(res, r, 3)) == 0)
                e->ability = k;
        char cats[256];
        snprintf(cats, sizeof cats, "%s", PQgetvalue(res, r, 4));
        for (char *save = NULL, *t = strtok_r(cats, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
            for (int k = 0; od_category_names[k]; k++)
                if (strcmp(od_category_names[k], t) == 0)
                    e->categories |= 1u << k;
        e->assessed_on = INT32_MIN;
        if (*PQgetvalue(res, r, 5))
            od_duty_day_parse(PQgetvalue(res, r, 5), &e->assessed_on);
        snprintf(e->card_id, sizeof e->card_id, "%s", PQgetvalue(res, r, 6));
        if (cc_map_put(s->index, e->id, (void *)(intptr_t)(s->nelders + 1), NULL) != 0)
            s_oom("duties");
        s->nelders++;
    }
    s_snap_step(s);
}

static void s_push_day(int32_t **days, int *n, int32_t day)
{
    int32_t *v = realloc(*days, (size_t)(*n + 1) * sizeof *v);
    if (!v)
        s_oom("duties");
    v[(*n)++] = day;
    *days = v;
}

static void s_on_capacity(PGresult *res, void *arg)
{
    s_snap_t *s = arg;
    if (s_snap_bad(s, res, "duty_capacity"))
        return;
    int n = PQntuples(res);
    s->caps = calloc((size_t)(n ? n : 1), sizeof *s->caps);
    if (!s->caps)
        s_oom("duties");
    for (int r = 0; r < n; r++) {
        od_duty_cap_t *c = &s->caps[s->ncaps++];
        c->district = (int32_t)atol(PQgetvalue(res, r, 0));
        c->day = (int32_t)atol(PQgetvalue(res, r, 1));
        /* Shift less what dispatchd planned that is not a duty: the duty
         * orders are counted from our own store (s_on_orders), which knows
         * those placed a moment ago that dispatchd has not planned yet. */
        c->free_min = atoi(PQgetvalue(res, r, 2)) -
                      (atoi(PQgetvalue(res, r, 3)) - atoi(PQgetvalue(res, r, 4)));
    }
    s_snap_step(s);
}

static int s_cap_key_cmp(const void *k, const void *e)
{
    const od_duty_cap_t *x = k, *y = e;
    if (x->district != y->district)
        return x->district < y->district ? -1 : 1;
    return x->day < y->day ? -1 : x->day > y->day;
}

static void s_on_orders(PGresult *res, void *arg)
{
    s_snap_t *s = arg;
    if (s_snap_bad(s, res, "duty_orders"))
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *state = PQgetvalue(res, r, 1);
        int done = strcmp(state, "completed") == 0 || strcmp(state, "billed") == 0;
        int unserved = strcmp(state, "cancelled") == 0 || strcmp(state, "failed") == 0 ||
                       strcmp(state, "denied") == 0;
        int i = s_elder_at(s, PQgetvalue(res, r, 4));
        if (!unserved && i >= 0 && s->ncaps) {
            od_duty_cap_t key = { .district = s->elders[i].district,
                                  .day = od_day_of_us(strtoll(PQgetvalue(res, r, 3), NULL, 10)) };
            od_duty_cap_t *c = bsearch(&key, s->caps, (size_t)s->ncaps, sizeof *c, s_cap_key_cmp);
            if (c)
                c->free_min -= strcmp(PQgetvalue(res, r, 2), "assessment") == 0
                                   ? OD_DUTY_ASSESS_MIN : OD_DUTY_VISIT_MIN;
        }
        if (done && i >= 0 && strcmp(PQgetvalue(res, r, 2), "visit") == 0)
            s_push_day(&s->elders[i].visit_days, &s->elders[i].nvisit,
                       od_day_of_us(strtoll(PQgetvalue(res, r, 3), NULL, 10)));
        char k[CC_IDEM_KEY_MAX + 1];
        int n = 0;
        if (od_duty_key_parse(PQgetvalue(res, r, 0), k, sizeof k, &n) != 0)
            continue;
        od_duty_occ_t *o = cc_map_get(s->occ, k);
        if (!o) {
            o = calloc(1, sizeof *o);
            if (!o || cc_map_put(s->occ, k, o, NULL) != 0)
                s_oom("duties");
        }
        if (!unserved)
            o->live++;
        if (n > o->max_n)
            o->max_n = n;
    }
    s_snap_step(s);
}

static void s_on_contacts(PGresult *res, void *arg)
{
    s_snap_t *s = arg;
    if (s_snap_bad(s, res, "duty_contacts"))
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = s_elder_at(s, PQgetvalue(res, r, 0));
        if (i >= 0)
            s_push_day(&s->elders[i].contact_days, &s->elders[i].ncontact,
                       od_day_of_us(strtoll(PQgetvalue(res, r, 1), NULL, 10)));
    }
    s_snap_step(s);
}

static int64_t s_day_us(int32_t day, int minute)
{
    return ((int64_t)day * CC_S_PER_DAY + minute * CC_S_PER_MIN - CC_TZ_OFFSET_S) * CC_US_PER_S;
}

static int32_t s_today(void);

/* The first day whose mandated orders and contacts a run must read: the
 * start of the current period of every calendar rule of any set, and far
 * enough back for assessments placed ahead of or after their due date. */
static int32_t s_since(const s_snap_t *s, int32_t today)
{
    int32_t since = today - OD_DUTY_ASSESS_LEAD_DAYS - 31;
    for (int i = 0; i < s->nsets; i++)
        for (int k = 0; k < s->sets[i].nrules; k++) {
            const od_duty_rule_t *r = &s->sets[i].rules[k];
            int32_t ps, pe;
            char key[OD_DUTY_PKEY_MAX];
            if (r->service == OD_DUTY_ASSESSMENT)
                continue;
            od_period_bounds(r->period, today, &ps, &pe, key);
            if (ps < since)
                since = ps;
        }
    return since;
}

/* After the rules: elders (all, or of one district), mandated orders and
 * contacts from s->since on, in that order on the bulk reader. */
static int s_district_of(const s_snap_t *s)
{
    return s->district;
}
static void s_snap_rest(s_snap_t *s)
{
    if (s->failed)
        return;
    if (s->since == INT32_MIN)
        s->since = s_since(s, s_today());
    od_app_t *app = s->app;
    cc_args_t a;
    int district = s_district_of(s), queued = 0, lost = 0;
    cc_args_init(&a, &s_stmts[S_ST_ELDERS]);
    if (district >= 0)
        cc_args_int(&a, "district", district);
    else
        cc_args_null(&a, "district");
    if (cc_db_call(app->bulk, &a, s_on_elders, s) == 0)
        queued++;
    else
        lost++;
    /* Before the orders: their minutes come off the free capacity. */
    if (s->run) {
        char from[11];
        od_duty_day_format(s_today() - 1, from);
        cc_args_init(&a, &s_stmts[S_ST_CAPACITY]);
        cc_args_text(&a, "from", from);
        if (cc_db_call(app->bulk, &a, s_on_capacity, s) == 0)
            queued++;
        else
            lost++;
    }
    cc_args_init(&a, &s_stmts[S_ST_ORDERS]);
    cc_args_int(&a, "since_us", s_day_us(s->since, 0));
    if (cc_db_call(app->bulk, &a, s_on_orders, s) == 0)
        queued++;
    else
        lost++;
    cc_args_init(&a, &s_stmts[S_ST_CONTACTS]);
    cc_args_int(&a, "since_us", s_day_us(s->since, 0));
    if (cc_db_call(app->bulk, &a, s_on_contacts, s) == 0)
        queued++;
    else
        lost++;
    /* The bulk reader's queue is full (rare): those queued still answer into s,
     * then the load ends as failed and is retried. */
    if (lost) {
        cc_warn("db_queue_failed", "what", "duties");
        s->failed = 1;
    }
    s->pending += queued;
}

/* Load rules, then elders (of district; -1 all), mandated orders and
 * contacts from day `since` on (INT32_MIN: from the rules, a run).
 * done(snap, ok) once all have answered. */
static int s_snap_load(od_app_t *app, int32_t district, int32_t since, s_snap_done_fn *done,
                       void *arg)
{
    s_snap_t *s = calloc(1, sizeof *s);
    if (!s || !(s->index = cc_map_new()) || !(s->occ = cc_map_new()))
        s_oom("duties");
    s->app = app;
    s->done = done;
    s->arg = arg;
    s->since = since;
    s->run = since == INT32_MIN;
    s->district = district;
    s->pending = 1;
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_RULES]);
    if (cc_db_call(app->bulk, &a, s_on_rules, s) != 0) {
        s_snap_free(s);
        return -1;
    }
    return 0;
}

/* ---- the generator ----------------------------------------------------------- */
static int32_t s_today(void)
{
    return od_day_of_us(cc_now_us());
}


static void s_schedule(struct event *ev, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    if (ev)
        evtimer_add(ev, &tv);
}

static cc_metric_t *s_gauge(const char *name)
{
    cc_metric_t *m = cc_map_get(S.gauges, name);
    if (!m) {
        m = cc_metrics_gauge(name, "Share of the elders due a duty in the current period "
                                   "who were visited or contacted (1: none due)");
        if (!m || cc_map_put(S.gauges, name, m, NULL) != 0)
            s_oom("duties");
    }
    return m;
}

static int s_by_district(const void *a, const void *b)
{
    const od_duty_elder_t *x = a, *y = b;
    return (x->district > y->district) - (x->district < y->district);
}

/* Rates of the current week and month per district and duty: the elders
 * sorted by district (a shallow copy), each district's slice reported. */
static void s_update_gauges(s_snap_t *s, int32_t today)
{
    const od_duty_set_t *set = od_duty_set_on(s->sets, s->nsets, today);
    if (!set || s->nelders == 0)
        return;
    od_duty_elder_t *el = malloc((size_t)s->nelders * sizeof *el);
    if (!el)
        s_oom("duties");
    memcpy(el, s->elders, (size_t)s->nelders * sizeof *el);
    qsort(el, (size_t)s->nelders, sizeof *el, s_by_district);
    for (int i = 0; i < s->nelders;) {
        int j = i;
        while (j < s->nelders && el[j].district == el[i].district)
            j++;
        for (int p = OD_PER_WEEK; p <= OD_PER_MONTH; p++) {
            json_t *c = od_duty_coverage(set, el + i, j - i, (od_period_t)p, today, -1);
            size_t k;
            json_t *d;
            json_array_foreach(json_object_get(c, "duties"), k, d) {
                char name[160];
                snprintf(name, sizeof name,
                         "orderd_duty_visit_rate{district=\"%" PRId32 "\",duty=\"%s\"}",
                         el[i].district, json_string_value(json_object_get(d, "duty")));
                cc_metric_set(s_gauge(name), json_real_value(json_object_get(d, "rate")));
            }
            json_decref(c);
        }
        i = j;
    }
    free(el);
}

static void s_run_finish(void)
{
    int64_t ms = (cc_mono_us() - S.t0_us) / 1000;
    char c[24], e[24], r[24], nc[24], t[24];
    snprintf(c, sizeof c, "%" PRId64, S.created);
    snprintf(e, sizeof e, "%" PRId64, S.existing);
    snprintf(r, sizeof r, "%" PRId64, S.refused);
    snprintf(nc, sizeof nc, "%" PRId64, S.stats.no_card);
    snprintf(t, sizeof t, "%" PRId64, ms);
    char df[24];
    snprintf(df, sizeof df, "%" PRId64, S.fit.deferred);
    cc_info("duty_run", "created", c, "existing", e, "refused", r, "cardless", nc, "deferred",
            df, "ms", t);
    cc_metric_set(S.m_seconds, (double)ms / 1000.0);
    if (S.snap)
        s_update_gauges(S.snap, s_today());
    s_snap_free(S.snap);
    S.snap = NULL;
    free(S.due);
    S.due = NULL;
    S.ndue = S.next = 0;
    S.running = 0;
    if (S.kicked && !S.kick_timer) {
        S.kick_timer = 1;
        s_schedule(S.ev_run, 1000);
    }
}

static void s_pump(void);

static void s_on_placed(void *ctx, int status, const char *order_id, const char *state,
                        const cc_err_t *err)
{
    (void)ctx;
    (void)state;
    S.inflight--;
    if (status == 202) {
        S.created++;
        cc_metric_inc(S.m_created);
    } else if (status == 200) {
        S.existing++;
        cc_metric_inc(S.m_existing);
    } else {
        S.refused++;
        cc_metric_inc(S.m_refused);
        cc_warn("duty_order_refused", "error", err ? err->error : "", "field",
                err ? err->field : "");
    }
    (void)order_id;
    if (!S.pumping)
        s_pump();
}

static void s_pump(void)
{
    if (S.stopping)
        return;   /* what was not placed is placed by the next start's run */
    S.pumping = 1;
    static od_order_req_t reqs[S_BATCH];
    while (S.next < S.ndue && S.inflight + S_BATCH <= S_INFLIGHT) {
        const char *why = cc_rt_admit_write(&S.app->rt);
        if (why) {
            /* The writer is backed up: hold, as an HTTP write would be. */
            S.pumping = 0;
            s_schedule(S.ev_pump, 500);
            return;
        }
        if (cc_rt_writer_pending(&S.app->rt) >= (int)S.app->gen_pace) {
            /* Paced (--gen-pace): the saga's answers and the call centre's
             * writes go first; an answer or this timer pumps again. */
            S.pumping = 0;
            s_schedule(S.ev_pump, 5);
            return;
        }
        int n = 0;
        for (; n < S_BATCH && S.next < S.ndue; n++) {
            const od_duty_due_t *d = &S.due[S.next++];
            const od_duty_rule_t *r = &d->set->rules[d->rule];
            const od_duty_elder_t *e = &S.snap->elders[d->elder];
            od_order_req_t *req = &reqs[n];
            memset(req, 0, sizeof *req);
            snprintf(req->key, sizeof req->key, "duty:%s:%s:%s:%d", r->id, e->id, d->pkey, d->n);
            /* No active card: an order on none (od_app_place), which billingd
             * lets the fund pay because it is mandated. */
            snprintf(req->card_id, sizeof req->card_id, "%s", e->card_id);
            if (!e->card_id[0])
                snprintf(req->elder_id, sizeof req->elder_id, "%s", e->id);
            req->service = r->service == OD_DUTY_ASSESSMENT ? CC__SERVICE__ASSESSMENT
                                                            : CC__SERVICE__VISIT;
            req->window_start_us = s_day_us(d->day, S_WINDOW_START_MIN);
            req->window_end_us = s_day_us(d->day, S_WINDOW_END_MIN);
            /* The caregiver sees why they come; no personal data. */
            snprintf(req->notes, sizeof req->notes, "mandated %s (duty %s, fund %s)",
                     od_duty_service_names[r->service], r->id, r->fund);
            req->meal_mode = CC__MEAL_MODE__MEAL_DELIVERY;
        }
        /* Counted before the call: answers may come back inside it. */
        S.inflight += n;
        od_app_place_many(S.app, reqs, n, "mandated", s_on_placed, NULL);
    }
    S.pumping = 0;
    if (S.next >= S.ndue && S.inflight == 0 && S.running)
        s_run_finish();
}

static void s_on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (S.running && S.snap)
        s_pump();
}

static void s_on_run_loaded(s_snap_t *snap, int ok)
{
    S.snap = snap;
    if (!ok) {
        cc_warn("duty_run_failed", "why", "the store could not answer; retried");
        S.kicked = 1;
        s_run_finish();
        return;
    }
    int32_t today = s_today();
    int32_t earliest = cc_minute_of_day_local(cc_now_us()) < S_LATEST_TODAY_MIN ? today
                                                                                : today + 1;
    /* The run's parts timed apart (bench/genweek.py): the reads, the pure
     * planning, and (orderd_duty_run_seconds) the whole run with placing. */
    int64_t t_plan = cc_mono_us();
    cc_metric_set(S.m_load_seconds, (double)(t_plan - S.t0_us) / 1e6);
    S.due = od_duty_plan(snap->sets, snap->nsets, snap->elders, snap->nelders, snap->occ,
                         earliest, today + (int32_t)od_duties_horizon_days, &S.ndue, &S.stats);
    /* By capacity where dispatchd reported it (docs/DUTIES.md "Capacity"). */
    memset(&S.fit, 0, sizeof S.fit);
    S.ndue = od_duty_fit(S.due, S.ndue, snap->elders, snap->caps, snap->ncaps, &S.fit);
    cc_metric_set(S.m_plan_seconds, (double)(cc_mono_us() - t_plan) / 1e6);
    cc_metric_add(S.m_deferred, (double)S.fit.deferred);
    cc_metric_add(S.m_fitted, (double)S.fit.fitted);
    cc_metric_set(S.m_capacity, (double)snap->ncaps);
    cc_metric_add(S.m_no_card, (double)S.stats.no_card);
    cc_metric_add(S.m_regen_cap, (double)S.stats.regen_cap);
    S.next = 0;
    s_pump();
}

static void s_run(void)
{
    if (S.running || !S.app || S.stopping)
        return;
    if (cc_rt_reloading(&S.app->rt)) {
        S.kicked = 1;
        S.kick_timer = 1;
        s_schedule(S.ev_run, 5000);
        return;
    }
    S.running = 1;
    S.kicked = 0;
    S.t0_us = cc_mono_us();
    S.created = S.existing = S.refused = 0;
    memset(&S.stats, 0, sizeof S.stats);
    memset(&S.fit, 0, sizeof S.fit);
    cc_metric_inc(S.m_runs);
    if (s_snap_load(S.app, -1, INT32_MIN, s_on_run_loaded, NULL) != 0) {
        S.running = 0;
        S.kicked = 1;
        S.kick_timer = 1;
        s_schedule(S.ev_run, 5000);
    }
}

static void s_on_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    S.kick_timer = 0;
    s_run();
    if (!S.running && S.kicked)
        return;   /* s_run scheduled its retry */
    /* The next full run; a kick may come sooner. */
    s_schedule(S.ev_run, od_duties_interval_s * 1000);
}

void od_duties_kick(void)
{
    cc_debug("duty_kick", "running", S.running ? "1" : "0");
    S.kicked = 1;
    /* Once set for a kick, the timer is not moved again: a stream of
     * changes must not postpone the run. */
    if (!S.running && S.ev_run && !S.kick_timer && !S.stopping) {
        S.kick_timer = 1;
        s_schedule(S.ev_run, 1000);
    }
}

static void s_on_changes(PGresult *res, void *arg)
{
    (void)arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return;
    const char *now = PQgetvalue(res, 0, 0);
    if (S.changes[0] && strcmp(now, S.changes) != 0)
        od_duties_kick();
    snprintf(S.changes, sizeof S.changes, "%s", now);
}

static void s_on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_CHANGES]);
    cc_db_call(S.app->bulk, &a, s_on_changes, NULL);   /* missed: the next one */
}

/* Our statements against the catalogue, as cc_rt checks its table's: a
 * mismatch (a migration and this code disagree) stops the daemon. */
static void s_checked(int ok, void *arg)
{
    (void)arg;
    if (!ok) {
        cc_error("startup_failed", "what", "duty statements", "fix",
                 "apply sql/orderd/017_duties.sql (tools/migrate.sh)");
        exit(2);
    }
}

static void s_check_writer(void *arg)
{
    (void)arg;
    cc_stmt_check(S.app->rt.writer, s_stmts, CC_STMT_WRITER, s_checked, NULL);
}

static void s_check_reader(void *arg)
{
    (void)arg;
    cc_stmt_check(S.app->rt.reader, s_stmts, CC_STMT_READER, s_checked, NULL);
}

int od_duties_init(od_app_t *app)
{
    S.app = app;
    if (cc_stmt_prepare(app->rt.writer, s_stmts, CC_STMT_WRITER) != 0 ||
        cc_stmt_prepare(app->rt.reader, s_stmts, CC_STMT_READER) != 0 ||
        cc_stmt_prepare(app->bulk, s_stmts, CC_STMT_READER) != 0)
        return -1;
    cc_db_on_connect(app->rt.writer, s_check_writer, NULL);
    cc_db_on_connect(app->rt.reader, s_check_reader, NULL);
    S.gauges = cc_map_new();
    S.ev_run = evtimer_new(app->rt.base, s_on_run, NULL);
    S.ev_pump = evtimer_new(app->rt.base, s_on_pump, NULL);
    S.ev_poll = event_new(app->rt.base, -1, EV_PERSIST, s_on_poll, NULL);
    if (!S.gauges || !S.ev_run || !S.ev_pump || !S.ev_poll)
        return -1;
    S.m_runs = cc_metrics_counter("orderd_duty_runs_total", "Mandated generator runs");
    S.m_created = cc_metrics_counter("orderd_duty_orders_total{outcome=\"created\"}",
                                     "Mandated orders the generator placed, by outcome");
    S.m_existing = cc_metrics_counter("orderd_duty_orders_total{outcome=\"existing\"}",
                                      "Mandated orders the generator placed, by outcome");
    S.m_refused = cc_metrics_counter("orderd_duty_orders_total{outcome=\"refused\"}",
                                     "Mandated orders the generator placed, by outcome");
    S.m_no_card = cc_metrics_counter("orderd_duty_cardless_total",
                                     "Mandated orders planned for an elder with no active card "
                                     "(placed on no card: the fund pays)");
    S.m_regen_cap = cc_metrics_counter("orderd_duty_skipped_total{reason=\"regen_cap\"}",
                                       "Due mandated orders not placed: the period's "
                                       "regenerations are used up (docs/DUTIES.md)");
    S.m_deferred = cc_metrics_counter("orderd_duty_deferred_total{reason=\"no_capacity\"}",
                                      "Due mandated orders not placed by a run: no day of "
                                      "their range had free capacity (coverage names the "
                                      "elders missed)");
    S.m_fitted = cc_metrics_counter("orderd_duty_fitted_total",
                                    "Due mandated orders given a day by capacity");
    S.m_capacity = cc_metrics_gauge("orderd_duty_capacity_days",
                                    "District-days with capacity figures from dispatchd "
                                    "(the last run)");
    S.m_capacity_events = cc_metrics_counter("orderd_duty_capacity_reports_total",
                                             "CapacityReported events recorded");
    S.m_seconds = cc_metrics_gauge("orderd_duty_run_seconds", "Duration of the last run");
    S.m_load_seconds = cc_metrics_gauge("orderd_duty_load_seconds",
                                        "The last run's reads of rules, elders, orders, contacts");
    S.m_plan_seconds = cc_metrics_gauge("orderd_duty_plan_seconds",
                                        "The last run's planning (what is due), before placing");
    return 0;
}

int od_duties_start(od_app_t *app)
{
    (void)app;
    if (S.started)
        return 0;
    S.started = 1;
    struct timeval poll = { (time_t)od_duties_poll_s, 0 };
    if (event_add(S.ev_poll, &poll) != 0)
        return -1;
    s_schedule(S.ev_run, 0);
    return 0;
}

void od_duties_stop(od_app_t *app)
{
    (void)app;
    S.stopping = 1;
    if (S.ev_poll)
        event_del(S.ev_poll);
    if (S.ev_run)
        event_del(S.ev_run);
    if (S.ev_pump)
        event_del(S.ev_pump);
}

void od_duties_fini(od_app_t *app)
{
    (void)app;
    if (S.ev_poll)
        event_free(S.ev_poll);
    if (S.ev_run)
        event_free(S.ev_run);
    if (S.ev_pump)
        event_free(S.ev_pump);
    S.ev_poll = S.ev_run = S.ev_pump = NULL;
    cc_map_destroy(&S.gauges, NULL);
    /* A run cut short by the stop: its snapshot is ours; answers still
     * due were dropped with the writer. */
    s_snap_free(S.snap);
    S.snap = NULL;
    free(S.due);
    S.due = NULL;
    cc_stmt_free(s_stmts);
}

/* ---- routes ------------------------------------------------------------------- */
static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error(req, 503, "unavailable", NULL, "the store could not answer; retry");
}

static void s_on_rules_read(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "duty_rules", res);
        return;
    }
    int32_t today = s_today();
    json_t *versions = json_array(), *current = NULL;
    int32_t cur_from = INT32_MIN;
    int cur_version = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *v = json_object();
        int version = atoi(PQgetvalue(res, r, 0));
        int32_t from = 0;
        od_duty_day_parse(PQgetvalue(res, r, 1), &from);
        char at[40];
        json_object_set_new(v, "version", json_integer(version));
        json_object_set_new(v, "effective_from", json_string(PQgetvalue(res, r, 1)));
        json_object_set_new(v, "created_at",
                            json_string(cc_time_format(strtoll(PQgetvalue(res, r, 3), NULL, 10),
                                                       at, sizeof at)));
        json_object_set_new(v, "created_by", json_string(PQgetvalue(res, r, 4)));
        json_t *rules = json_loads(PQgetvalue(res, r, 2), 0, NULL);
        json_object_set_new(v, "rules", rules ? rules : json_array());
        json_array_append(versions, v);
        if (from <= today && (from > cur_from || (from == cur_from && version > cur_version))) {
            json_decref(current);
            current = json_incref(v);
            cur_from = from;
            cur_version = version;
        }
        json_decref(v);
    }
    json_t *body = json_object();
    json_object_set_new(body, "current", current ? current : json_null());
    json_object_set_new(body, "versions", versions);
    cc_http_reply_json(&req, 200, body);
}

void od_duties_get_rules(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_RULES]);
    if (cc_db_call(app->rt.reader, &a, s_on_rules_read, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char from[11];
} s_put_t;

static void s_on_rules_put(PGresult *res, void *arg)
{
    s_put_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_duty_rules_put", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_duty_rules_put", res);
    cc_info("duty_rules_put", "version", PQgetvalue(res, 0, 1), "effective_from", x->from);
    json_t *body = json_object();
    json_object_set_new(body, "version", json_integer(atoi(PQgetvalue(res, 0, 1))));
    json_object_set_new(body, "effective_from", json_string(x->from));
    cc_http_reply_json(&x->req, 201, body);
    free(x);
    od_duties_kick();
}

void od_duties_put_rules(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_duty_set_t *set = malloc(sizeof *set);
    if (!set)
        s_oom("duties");
    cc_err_t err;
    if (od_duty_put_from_json(cc_http_json(req), s_today(), set, &err) != 0) {
        free(set);
        cc_http_reply_err(&req, &err);
        return;
    }
    json_t *canon = od_duty_rules_to_json(set);
    char *text = json_dumps(canon, JSON_COMPACT);
    json_decref(canon);
    s_put_t *x = cc_xcalloc(sizeof *x, "duties");
    x->app = app;
    x->req = req;
    od_duty_day_format(set->effective_from, x->from);
    free(set);
    if (!text)
        s_oom("duties");
    const cc_jwt_claims_t *who = cc_http_claims(req);
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_RULES_PUT]);
    cc_args_text(&a, "effective", x->from);
    cc_args_text(&a, "rules", text);
    cc_args_text(&a, "by", who ? who->sub : "");
    if (cc_db_call(app->rt.writer, &a, s_on_rules_put, x) != 0) {
        cc_error("db_queue_failed", "what", "od_duty_rules_put");
        exit(1);
    }
    free(text);
}

typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char id[CC_UUID_LEN];
} s_contact_t;

static void s_on_contact(PGresult *res, void *arg)
{
    s_contact_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_contact_log_add", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_contact_log_add", res);
    if (strcmp(PQgetvalue(res, 0, 0), "created") != 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no elder with this id");
    } else {
        json_t *body = json_object();
        json_object_set_new(body, "contact_id", json_string(x->id));
        cc_http_reply_json(&x->req, 201, body);
        od_duties_kick();
    }
    free(x);
}

void od_duties_post_contact(cc_http_req_t *req, void *arg)
{
    static const char *const known[] = { "kind", "at", "outcome", "note", NULL };
    static const char *const kinds[] = { "phone", "visit", NULL };
    static const char *const outcomes[] = { "reached", "not_reached", NULL };
    od_app_t *app = arg;
    json_t *body = cc_http_json(req);
    cc_err_t err;
    int kind = 0, outcome = 0;
    int64_t at = 0, now = cc_now_us();
    const char *note = NULL;
    if (cc_json_only(body, known, &err) != 0 ||
        cc_json_enum(body, "kind", 1, kinds, &kind, &err) != 0 ||
        cc_json_time(body, "at", 1, &at, &err) != 0 ||
        cc_json_enum(body, "outcome", 1, outcomes, &outcome, &err) != 0 ||
        cc_json_str(body, "note", 0, 500, &note, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    /* A contact is logged as it happens or soon after, never ahead. */
    if (at > now + 5 * CC_US_PER_MIN || at < now - 92 * CC_US_PER_DAY) {
        cc_http_reply_error(&req, 422, "invalid_value", "at",
                            "at must be within the last 92 days and not in the future");
        return;
    }
    s_contact_t *x = cc_xcalloc(sizeof *x, "contact");
    x->app = app;
    x->req = req;
    cc_uuid(x->id);
    char ts[40];
    const cc_jwt_claims_t *who = cc_http_claims(req);
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_CONTACT_ADD]);
    cc_args_text(&a, "id", x->id);
    cc_args_text(&a, "elder", cc_http_path_param(req, "id"));
    cc_args_text(&a, "kind", kinds[kind]);
    cc_args_text(&a, "at", cc_time_format(at, ts, sizeof ts));
    cc_args_text(&a, "outcome", outcomes[outcome]);
    cc_args_text(&a, "note", note ? note : "");
    cc_args_text(&a, "by", who ? who->sub : "");
    if (cc_db_call(app->rt.writer, &a, s_on_contact, x) != 0) {
        cc_error("db_queue_failed", "what", "od_contact_log_add");
        exit(1);
    }
}

typedef struct {
    cc_http_req_t *req;
    od_period_t period;
    int32_t day, district;
} s_cov_t;

static void s_on_cov_loaded(s_snap_t *snap, int ok)
{
    s_cov_t *x = snap->arg;
    if (!ok) {
        cc_http_reply_error(&x->req, 503, "unavailable", NULL, "the store could not answer; retry");
    } else {
        const od_duty_set_t *set = od_duty_set_on(snap->sets, snap->nsets, x->day);
        json_t *body = od_duty_coverage(set, snap->elders, snap->nelders, x->period, x->day,
                                        x->district);
        json_object_set_new(body, "district_id",
                            x->district >= 0 ? json_integer(x->district) : json_null());
        json_object_set_new(body, "rules_version", json_integer(set ? set->version : 0));
        cc_http_reply_json(&x->req, 200, body);
    }
    free(x);
    s_snap_free(snap);
}

void od_duties_get_coverage(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const char *ds = cc_http_query(req, "district_id");
    const char *ps = cc_http_query(req, "period");
    const char *dt = cc_http_query(req, "date");
    int32_t district = -1, day = s_today();
    int period = OD_PER_MONTH;
    if (ds && *ds) {
        char *end = NULL;
        errno = 0;
        long v = strtol(ds, &end, 10);
        if (errno || *end || v < 0 || v > INT32_MAX) {
            cc_http_reply_error(&req, 400, "invalid_value", "district_id",
                                "district_id must be a district number");
            return;
        }
        district = (int32_t)v;
        if (cc_http_scope_district(&req, (uint32_t)district) != 0)
            return;
    } else {
        const cc_jwt_claims_t *who = cc_http_claims(req);
        if (who && who->role == CC_ROLE_DISPATCHER) {
            /* A dispatcher sees their own districts only: name one. */
            cc_http_reply_error(&req, 400, "missing_field", "district_id",
                                "a dispatcher names one of their districts");
            return;
        }
    }
    if (ps && *ps) {
        period = -1;
        for (int k = OD_PER_WEEK; k <= OD_PER_MONTH; k++)
            if (strcmp(ps, od_period_names[k]) == 0)
                period = k;
        if (period < 0) {
            cc_http_reply_error(&req, 400, "invalid_value", "period", "period is week or month");
            return;
        }
    }
    if (dt && *dt && od_duty_day_parse(dt, &day) != 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "date", "date must be YYYY-MM-DD");
        return;
    }
    s_cov_t *x = cc_xcalloc(sizeof *x, "coverage");
    x->req = req;
    x->period = (od_period_t)period;
    x->day = day;
    x->district = district;
    int32_t ps0, pe0;
    char k[OD_DUTY_PKEY_MAX];
    od_period_bounds(x->period, day, &ps0, &pe0, k);
    if (s_snap_load(app, district, ps0, s_on_cov_loaded, x) != 0) {
        cc_http_reply_error(&x->req, 503, "unavailable", NULL, "cannot queue the query");
        free(x);
    }
}

static void s_on_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "orders", res);
        return;
    }
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *o = od_store_order_json(res, r, 0);
        json_object_set_new(o, "mandated", json_boolean(PQgetvalue(res, r, 20)[0] == 't'));
        json_object_set_new(o, "duty_key", PQgetisnull(res, r, 21)
                                               ? json_null()
                                               : json_string(PQgetvalue(res, r, 21)));
        json_array_append_new(list, o);
    }
    json_t *body = json_object();
    json_object_set_new(body, "orders", list);
    cc_http_reply_json(&req, 200, body);
}

void od_duties_list_orders(cc_http_req_t *req, od_app_t *app, const char *elder_id)
{
    const char *m = cc_http_query(req, "mandated");
    const char *state = cc_http_query(req, "state");
    const char *limit_s = cc_http_query(req, "limit");
    int mandated = -1;
    if (m && *m) {
        if (strcmp(m, "true") == 0)
            mandated = 1;
        else if (strcmp(m, "false") == 0)
            mandated = 0;
        else {
            cc_http_reply_error(&req, 400, "invalid_value", "mandated",
                                "mandated is true or false");
            return;
        }
    }
    if (state && *state && od_state_parse(state) < 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "state", "unknown state");
        return;
    }
    long limit = 50;
    if (limit_s && *limit_s) {
        char *end = NULL;
        errno = 0;
        limit = strtol(limit_s, &end, 10);
        if (errno || *end || limit < 1 || limit > 500) {
            cc_http_reply_error(&req, 400, "invalid_value", "limit",
                                "limit must be an integer 1..500");
            return;
        }
    }
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_LIST_ELDER]);
    cc_args_text(&a, "elder", elder_id);
    if (mandated < 0)
        cc_args_null(&a, "mandated");
    else
        cc_args_bool(&a, "mandated", mandated);
    cc_args_text(&a, "state", state && *state ? state : NULL);
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(app->rt.reader, &a, s_on_list, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

/* ---- CapacityReported (dispatchd's log) ------------------------------------------ */
static void s_on_capacity_recorded(PGresult *res, void *arg)
{
    (void)arg;
    /* Failed: the consumer retries from its position (cc_consumer.h). */
    if (od_app_write_ok(S.app, "od_on_capacity_reported", res, NULL) == 0)
        cc_metric_inc(S.m_capacity_events);
}

int od_duties_on_capacity(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                          void *arg)
{
    (void)arg;
    const Cc__CapacityReported *m = (const Cc__CapacityReported *)msg;
    int32_t day;
    char date[11];
    /* The schema bounds the figures; the date must be one (a bad one would
     * fail the statement again at every retry). */
    if (od_duty_day_parse(m->date, &day) != 0)
        return -1;
    od_duty_day_format(day, date);
    cc_args_t a;
    cc_args_init(&a, &s_stmts[S_ST_ON_CAPACITY]);
    cc_args_text(&a, "producer", "dispatchd");
    cc_args_int(&a, "seq", (int64_t)env->seq);
    cc_args_text(&a, "event_id", env->id);
    cc_args_int(&a, "district", m->district_id);
    cc_args_text(&a, "day", date);
    cc_args_int(&a, "shift", m->shift_min);
    cc_args_int(&a, "planned", m->planned_min);
    cc_args_int(&a, "duty", m->duty_min);
    cc_args_int(&a, "caregivers", m->caregivers);
    cc_args_int(&a, "at", m->reported_us ? m->reported_us : (int64_t)env->time_us);
    if (cc_consumer_call(c, &a, s_on_capacity_recorded, NULL) != 0) {
        cc_error("db_queue_failed", "what", a.st->name);
        exit(1);
    }
    return 0;
}
