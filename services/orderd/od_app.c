/* od_app: see od_app.h. */
#include "od_app.h"
#include "od_events.h"
#include "od_http.h"
#include "od_intake.h"
#include "od_auth.h"
#include "od_duties.h"
#include "od_pii.h"
#include "od_elders.h"
#include "od_reseal.h"
#include "od_alarm.h"
#include "od_plans.h"
#include "od_store.h"
#include "cc_time.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_pgarr.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>
#include <sodium.h>

const char *const od_card_status_names[] = { "active", "blocked", "closed", NULL };

/* One idempotency key: in flight (waiters queued) or committed (order_id). */
typedef struct s_waiter {
    od_place_cb *cb;
    void *ctx;
    struct s_waiter *next;
} s_waiter_t;

typedef struct {
    char card_id[CC_UUID_LEN];            /* the request, for "same body?" */
    char elder_id[CC_UUID_LEN];           /* an order without a card: whose */
    int service;
    int64_t window_start_us, window_end_us;
    char *notes;                          /* heap */
    int meal_mode;
    char order_id[CC_UUID_LEN];           /* set once committed */
    int done;                             /* committed */
    int64_t done_us;                      /* when (monotonic), for expiry */
    s_waiter_t *waiters;                  /* first is the request that sent it */
} s_idem_t;

typedef struct {
    od_app_t *app;
    char key[OD_KEY_MAX + 1];
    s_idem_t *idem;
    od_order_t *order;                    /* not in app->orders until created */
    /* The call, kept until sent (alone, or in a batch: od_app_place_many). */
    const char *source;                   /* static text */
    char placed_id[CC_UUID_LEN], released_id[CC_UUID_LEN];
    uint8_t *placed, *released;           /* heap; released: emergencies only */
    size_t placed_len, released_len;
} s_place_t;

static cc_metric_t *s_m_place[6];
/* Requests' placements gathered in one statement (s_gather). */
static cc_metric_t *s_m_gather_stmts, *s_m_gather_rows;
enum { S_CREATED, S_EXISTING, S_CONFLICT, S_CARD, S_WAITED, S_INVALID };
static const char *const s_place_names[6] = {
    "created", "existing", "conflict", "card_unavailable", "joined_in_flight", "invalid"
};

/* ---- errors --------------------------------------------------------------- */
void od_app_db_fatal(const char *what, PGresult *res)
{
    cc_db_fatal(what, res);     /* the one rule (cc_db.h) */
}

int od_app_write_ok(od_app_t *app, const char *what, PGresult *res, cc_err_t *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return 0;
    cc_rt_write_failed(&app->rt, what, res, 0, err);
    return -1;
}

/* ---- working set -------------------------------------------------------------- */
static void s_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    od_app_sweep(arg);
}

/* A key path from config, or <curve-keys-dir>/<name> when empty. */
static void s_key_path(const od_app_t *app, const char *given, const char *name, char *out,
                       size_t len)
{
    if (given && *given)
        snprintf(out, len, "%s", given);
    else
        snprintf(out, len, "%s/%s", app->rt.curve_keys_dir ? app->rt.curve_keys_dir : ".", name);
}

/* Load the keyring. Called from init, after the CURVE keys are checked
 * (a missing key directory is reported as such first). Without its key
 * orderd can neither store nor show an elder: a config error, which
 * restarting cannot mend, so exit 2 as cc_rt does for bad config. */
static void s_load_keys(od_app_t *app)
{
    char key[4096], idx[4096], why[8400];
    s_key_path(app, app->pii_key_file, "pii.key", key, sizeof key);
    s_key_path(app, app->pii_index_key_file, "pii-index.key", idx, sizeof idx);
    app->pii = od_pii_load(key, app->pii_old_key_file, idx, why, sizeof why);
    if (!app->pii) {
        cc_error("startup_failed", "what", "personal-data key", "error", why, "fix",
                 "docs/SECURITY.md, \"Personal data\"");
        exit(2);
    }
}

int od_app_start(void *arg)
{
    if (od_elders_start(arg) != 0 || od_plans_start(arg) != 0 || od_duties_start(arg) != 0)
        return -1;
    return od_reseal_rotate(arg);
}

int od_app_init(void *arg)
{
    od_app_t *app = arg;
    s_load_keys(app);
    app->address_dispatchd = cc_seal_load_address_keys(
        app->rt.curve_keys_dir, app->dispatchd_address_key_file, NULL, "dispatchd");
    app->address_meald = cc_seal_load_address_keys(app->rt.curve_keys_dir,
                                                   app->meald_address_key_file, NULL, "meald");
    if (od_reseal_init(app) != 0)
        return -1;
    od_store_set_pii(app->pii);
    app->elders = cc_map_new();
    app->cards = cc_map_new();
    app->orders = cc_map_new();
    app->idem = cc_map_new();
    if (!app->elders || !app->cards || !app->orders || !app->idem)
        return -1;
    app->idem_ttl_us = app->idem_ttl_s * CC_US_PER_S;
    char name[96];
    for (int s = 0; s < OD_STATE_COUNT; s++) {
        snprintf(name, sizeof name, "orderd_orders{state=\"%s\"}", od_state_name(s));
        app->m_state[s] = cc_metrics_gauge(name, "Orders by state");
    }
    app->m_open = cc_metrics_gauge("orderd_open_orders", "Orders not yet in a final state");
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "orderd_placements_total{outcome=\"%s\"}", s_place_names[i]);
        s_m_place[i] = cc_metrics_counter(name, "Order placements by outcome");
    }
    s_m_gather_stmts = cc_metrics_counter("orderd_place_gathered_statements_total",
        "Statements of requests' placements gathered on the writer (od_order_place_cols)");
    s_m_gather_rows = cc_metrics_counter("orderd_place_gathered_rows_total",
        "Placements sent in those statements");
    od_events_init_metrics();
    od_http_init_metrics();
    app->bulk = cc_db_new(app->rt.base, app->rt.db, "orderd-bulk");
    if (!app->bulk || cc_stmt_prepare(app->bulk, od_stmts, CC_STMT_READER) != 0)
        return -1;
    if (od_auth_init(app) != 0 || od_duties_init(app) != 0)
        return -1;
    if (app->intake_endpoint && *app->intake_endpoint) {
        app->intake = od_intake_new(app, app->intake_endpoint);
        if (!app->intake) {
            cc_error("startup_failed", "what", "intake", "endpoint", app->intake_endpoint);
            return -1;
        }
    }
    if (od_alarm_init(app) != 0 || od_plans_init(app) != 0)
        return -1;
    app->ev_sweep = event_new(app->rt.base, -1, EV_PERSIST, s_on_sweep, app);
    struct timeval sweep = { 60, 0 };
    if (!app->ev_sweep || event_add(app->ev_sweep, &sweep) != 0)
        return -1;
    return 0;
}

void od_app_stop(void *arg)
{
    od_app_t *app = arg;
    if (app->ev_sweep)
        event_del(app->ev_sweep);
    od_alarm_stop(app);
    od_plans_stop(app);
    od_duties_stop(app);
    od_reseal_stop(app);
    od_elders_stop(app);
}

static int s_free_elder(const char *k, void *v, void *a)
{
    (void)k;
    (void)a;
    od_elder_t *e = v;
    free(e->diet);
    free(e->address_enc);
    free(e->nocard);
    free(e);
    return 1;
}

static int s_free_any(const char *k, void *v, void *a)
{
    (void)k;
    (void)a;
    free(v);
    return 1;
}

static void s_order_free(od_order_t *o)
{
    if (o) {
        free(o->notes);
        free(o->diet);
        free(o);
    }
}

static int s_free_order(const char *k, void *v, void *a)
{
    (void)k;
    (void)a;
    s_order_free(v);
    return 1;
}

static void s_idem_free(s_idem_t *i)
{
    while (i->waiters) {   /* only at shutdown: nobody is left to answer */
        s_waiter_t *w = i->waiters;
        i->waiters = w->next;
        free(w);
    }
    free(i->notes);
    free(i);
}

static int s_free_idem(const char *k, void *v, void *a)
{
    (void)k;
    (void)a;
    s_idem_free(v);
    return 1;
}

void od_app_fini(void *arg)
{
    od_app_t *app = arg;
    od_intake_destroy(&app->intake);
    od_alarm_fini(app);
    od_auth_fini(app);
    od_plans_fini(app);
    od_duties_fini(app);
    cc_db_destroy(&app->bulk);
    if (app->ev_sweep)
        event_free(app->ev_sweep);
    app->ev_sweep = NULL;
    if (app->orders)
        cc_map_each(app->orders, s_free_order, NULL);
    if (app->cards)
        cc_map_each(app->cards, s_free_any, NULL);
    if (app->elders)
        cc_map_each(app->elders, s_free_elder, NULL);
    if (app->idem)
        cc_map_each(app->idem, s_free_idem, NULL);
    cc_map_destroy(&app->orders, NULL);
    cc_map_destroy(&app->cards, NULL);
    cc_map_destroy(&app->elders, NULL);
    cc_map_destroy(&app->idem, NULL);
    od_reseal_destroy(app);
    od_store_set_pii(NULL);
    od_pii_destroy(&app->pii);
    cc_seal_destroy(&app->address_dispatchd);
    cc_seal_destroy(&app->address_meald);
}

od_elder_t *od_app_add_elder(od_app_t *app, const char *id)
{
    od_elder_t *e = cc_map_get(app->elders, id);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->diet = strdup("");
    if (!e->diet || cc_map_put(app->elders, e->id, e, NULL) != 0) {
        free(e->diet);
        free(e);
        return NULL;
    }
    return e;
}

od_card_t *od_app_add_card(od_app_t *app, const char *id, od_elder_t *elder, int status)
{
    od_card_t *c = cc_map_get(app->cards, id);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        snprintf(c->id, sizeof c->id, "%s", id);
        if (cc_map_put(app->cards, c->id, c, NULL) != 0) {
            free(c);
            return NULL;
        }
    }
    c->elder = elder;
    c->status = (od_card_status_t)status;
    return c;
}

static od_order_t *s_order_new(const char *id, od_card_t *card)
{
    od_order_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    snprintf(o->id, sizeof o->id, "%s", id);
    o->card = card;
    o->notes = strdup("");
    if (!o->notes) {
        free(o);
        return NULL;
    }
    return o;
}

od_order_t *od_app_add_order(od_app_t *app, const char *id, od_card_t *card)
{
    od_order_t *o = cc_map_get(app->orders, id);
    if (o)
        return o;
    o = s_order_new(id, card);
    if (!o || cc_map_put(app->orders, o->id, o, NULL) != 0) {
        s_order_free(o);
        return NULL;
    }
    return o;
}

void od_app_count_state(od_app_t *app, od_state_t s, int64_t delta)
{
    if (s < 0 || s >= OD_STATE_COUNT)
        return;
    app->state_count[s] += delta;
    cc_metric_set(app->m_state[s], (double)app->state_count[s]);
    if (!od_state_final(s))
        cc_metric_add(app->m_open, (double)delta);
}

void od_app_order_committed(od_app_t *app, od_order_t *o, od_state_t s)
{
    if (s != o->state) {
        od_app_count_state(app, o->state, -1);
        od_app_count_state(app, s, +1);
        o->state = s;
    }
    if (o->pending == 0)
        o->next = o->state;
    if (od_state_final(o->state) && o->pending == 0) {
        cc_map_remove(app->orders, o->id);
        s_order_free(o);
    }
}

int od_app_age_years(const od_elder_t *e, int64_t now_us)
{
    char today[16];
    int y, m, d;
    if (!cc_date_local(now_us, today, sizeof today) || od_date_parse(today, &y, &m, &d) != 0)
        return 0;
    return od_age_years(e->birth_y, e->birth_m, e->birth_d, y, m, d);
}

void od_app_elder_address(od_elder_t *e, const uint8_t *sealed, size_t len)
{
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy) {
        cc_error("out_of_memory", "what", "elder");
        exit(1);
    }
    if (len)
        memcpy(copy, sealed, len);
    free(e->address_enc);
    e->address_enc = copy;
    e->address_enc_len = len;
}

/* ---- events we build --------------------------------------------------------- */
/* The elder's address sealed for consumer (cc_seal_address), or NULL (*n
 * 0) when there is none to send: row still in clear, no keys (tests), or
 * a stored value that does not open (warned, never the value). */
static uint8_t *s_address_for(const od_app_t *app, const od_order_t *o, const cc_seal_t *ring,
                              const char *consumer, size_t *n)
{
    const od_elder_t *e = o->card->elder;
    *n = 0;
    if (!app || !app->pii || !ring || !e->address_enc)
        return NULL;
    char *addr = od_pii_open(app->pii, e->id, "address", e->address_enc, e->address_enc_len);
    if (!addr) {
        cc_warn("pii_open_failed", "elder_id", e->id, "column", "address");
        return NULL;
    }
    uint8_t *b = cc_seal_address(ring, consumer, o->id, addr, n);
    sodium_memzero(addr, strlen(addr));
    free(addr);
    if (!b) {
        cc_error("out_of_memory", "what", "pack");
        exit(1);
    }
    return b;
}

int od_app_duty_rank(const od_order_t *o)
{
    if (!o->mandated)
        return 0;
    /* The duties' generator names the duty's service first in the notes
     * ("mandated contact (duty ...)", od_duties.c): kept with the order, so
     * the rank is the same after a restart. */
    return o->notes && strncmp(o->notes, "mandated contact", 16) == 0 ? 2 : 1;
}

uint8_t *od_app_pack_released(const od_app_t *app, const od_order_t *o, size_t *len)
{
    const od_elder_t *e = o->card->elder;
    uint8_t *out;
    size_t alen = 0;
    /* Each release goes to one reader with what it needs (docs/SECURITY.md,
     * "What events carry"); the store names it by the same rule
     * (od_released_type in sql/orderd/012_released_per_consumer.sql). */
    if (o->service == CC__SERVICE__MEAL) {
        Cc__MealReleased m = CC__MEAL_RELEASED__INIT;
        m.order_id = (char *)o->id;
        m.window_start_us = o->window_start_us;
        m.window_end_us = o->window_end_us;
        m.district_id = (uint32_t)e->district_id;
        m.lat = e->lat;
        m.lon = e->lon;
        m.diet = o->diet ? o->diet : e->diet;
        m.meal_point_id = (char *)o->meal_point_id;
        m.mode = o->meal_mode == CC__MEAL_MODE__MEAL_EAT_IN ? CC__MEAL_MODE__MEAL_EAT_IN
                                                             : CC__MEAL_MODE__MEAL_DELIVERY;
        m.address_sealed.data = s_address_for(app, o, app ? app->address_meald : NULL, "meald",
                                              &alen);
        m.address_sealed.len = alen;
        out = cc_event_pack(&m.base, len);
        free(m.address_sealed.data);
        return out;
    }
    Cc__VisitReleased m = CC__VISIT_RELEASED__INIT;
    m.order_id = (char *)o->id;
    m.elder_id = (char *)e->id;
    m.service = (Cc__Service)o->service;
    m.window_start_us = o->window_start_us;
    m.window_end_us = o->window_end_us;
    m.district_id = (uint32_t)e->district_id;
    m.lat = e->lat;
    m.lon = e->lon;
    m.ability_level = (char *)od_ability_names[e->ability];
    m.emergency = o->emergency;
    m.priority = od_priority_ranked(o->emergency, od_app_duty_rank(o), o->window_start_us);
    m.notes = o->notes;
    m.preferred_caregiver_id = (char *)e->last_caregiver[o->service];
    m.address_sealed.data = s_address_for(app, o, app ? app->address_dispatchd : NULL,
                                          "dispatchd", &alen);
    m.address_sealed.len = alen;
    out = cc_event_pack(&m.base, len);
    free(m.address_sealed.data);
    return out;
}

od_card_t *od_app_nocard(od_elder_t *e)
{
    if (!e->nocard) {
        e->nocard = calloc(1, sizeof *e->nocard);
        if (!e->nocard) {
            cc_error("out_of_memory", "what", "elder");
            exit(1);
        }
        e->nocard->elder = e;
        e->nocard->status = OD_CARD_ACTIVE;
    }
    return e->nocard;
}

uint8_t *od_app_pack_placed(const od_order_t *o, size_t *len)
{
    const od_elder_t *e = o->card->elder;
    Cc__OrderPlaced m = CC__ORDER_PLACED__INIT;
    m.order_id = (char *)o->id;
    m.card_id = (char *)o->card->id;
    m.elder_id = (char *)e->id;
    m.service = (Cc__Service)o->service;
    m.window_start_us = o->window_start_us;
    m.window_end_us = o->window_end_us;
    m.district_id = (uint32_t)e->district_id;
    m.emergency = o->emergency;
    /* What billingd prices by, nothing more (docs/SECURITY.md). */
    m.household = (char *)od_household_names[e->household];
    m.age_years = od_app_age_years(e, cc_now_us());
    m.mandated = o->mandated;   /* the duties' generator (od_duties.c): the fund pays */
    return cc_event_pack(&m.base, len);
}

void od_app_count_invalid(void)
{
    if (s_m_place[S_INVALID])
        cc_metric_inc(s_m_place[S_INVALID]);
}

/* ---- placing orders ----------------------------------------------------------- */
static void s_refuse(od_place_cb *cb, void *ctx, int status, const char *error,
                     const char *field, const char *message)
{
    cc_err_t err;
    cc_err_set(&err, status, error, field, "%s", message);
    cb(ctx, status, NULL, NULL, &err);
}

/* Answer every waiter of an entry, in arrival order, and empty the list. */
static void s_answer_all(s_idem_t *idem, int status, const char *order_id, const char *state,
                         const cc_err_t *err)
{
    s_waiter_t *w = idem->waiters;
    idem->waiters = NULL;
    while (w) {
        s_waiter_t *next = w->next;
        w->cb(w->ctx, status, order_id, state, err);
        free(w);
        w = next;
    }
}

static int s_add_waiter(s_idem_t *idem, od_place_cb *cb, void *ctx)
{
    s_waiter_t *w = calloc(1, sizeof *w), **pp = &idem->waiters;
    if (!w)
        return -1;
    w->cb = cb;
    w->ctx = ctx;
    while (*pp)
        pp = &(*pp)->next;
    *pp = w;
    return 0;
}

static int s_idem_same(const s_idem_t *i, const od_order_req_t *r)
{
    return strcmp(i->card_id, r->card_id) == 0 && strcmp(i->elder_id, r->elder_id) == 0 &&
           i->service == r->service &&
           i->window_start_us == r->window_start_us && i->window_end_us == r->window_end_us &&
           strcmp(i->notes, r->notes) == 0 && i->meal_mode == r->meal_mode;
}

static void s_place_free(s_place_t *p)
{
    free(p->placed);
    free(p->released);
    free(p);
}

/* A placement the store did not take: nothing committed, the key and the
 * order leave memory, so the same key retried is placed afresh (cancels
 * queued meanwhile find no order by its id). */
static void s_place_failed(s_place_t *p, const cc_err_t *err)
{
    od_app_t *app = p->app;
    cc_map_remove(app->idem, p->key);
    s_answer_all(p->idem, err->status, NULL, NULL, err);
    s_idem_free(p->idem);
    if (p->order) {
        cc_map_remove(app->orders, p->order->id);
        s_order_free(p->order);
    }
    s_place_free(p);
}

/* The store's answer for one placement (od_order_place's row, or a row of
 * od_order_place_many): memory, metrics and every waiter of the key. */
static void s_place_answer(s_place_t *p, const char *outcome, const char *order_id,
                           const char *state)
{
    od_app_t *app = p->app;
    cc_err_t err;
    s_idem_t *idem = p->idem;
    if (strcmp(outcome, "created") == 0 || strcmp(outcome, "existing") == 0) {
        /* "existing" with our own id: the batch was re-sent after its
         * COMMIT went through (reconnect), so we did create it. */
        int created = outcome[0] == 'c' || (p->order && strcmp(order_id, p->order->id) == 0);
        if (created) {
            /* Already in app->orders since it was queued; events decided
             * meanwhile moved only `next`. Count it from now. */
            od_order_t *o = p->order;
            p->order = NULL;
            int s = od_state_parse(state);
            o->state = s < 0 ? OD_PLACED : (od_state_t)s;
            od_app_count_state(app, o->state, +1);
            if (--o->pending == 0)
                o->next = o->state;
        }
        cc_metric_inc(s_m_place[created ? S_CREATED : S_EXISTING]);
        snprintf(idem->order_id, sizeof idem->order_id, "%s", order_id);
        idem->done = 1;
        idem->done_us = cc_mono_us();
        cc_info(created ? "order_placed" : "order_replayed", "order_id", order_id, "state", state);
        s_answer_all(idem, created ? 202 : 200, order_id, state, NULL);
    } else {
        /* Refused by the store: forget the key so a corrected retry is
         * judged afresh (the store stays the guard). */
        if (strcmp(outcome, "conflict") == 0) {
            cc_metric_inc(s_m_place[S_CONFLICT]);
            cc_err_set(&err, 409, "idempotency_conflict", "Idempotency-Key",
                       "this Idempotency-Key was used for a different request");
        } else if (strcmp(outcome, "unknown_elder") == 0) {
            cc_metric_inc(s_m_place[S_CARD]);
            cc_err_set(&err, 422, "unknown_elder", "elder_id", "no elder with this id");
        } else if (strcmp(outcome, "invalid_window") == 0) {
            /* od_order_place_many (od_order_place raises the CHECK). */
            cc_metric_inc(s_m_place[S_INVALID]);
            cc_err_set(&err, 422, "invalid_value", "window_end",
                       "window_end must be after window_start");
        } else {
            cc_metric_inc(s_m_place[S_CARD]);
            cc_err_set(&err, 422, "unknown_card", "card_id", "no active card with this card_id");
        }
        cc_map_remove(app->idem, p->key);
        s_answer_all(idem, err.status, NULL, NULL, &err);
        s_idem_free(idem);
    }
    if (p->order) {
        /* Not created: the id was never committed, so nothing refers to it. */
        cc_map_remove(app->orders, p->order->id);
        s_order_free(p->order);
    }
    s_place_free(p);
}

static void s_on_placed(PGresult *res, void *arg)
{
    s_place_t *p = arg;
    cc_err_t err;
    if (od_app_write_ok(p->app, "od_order_place", res, &err) != 0) {
        s_place_failed(p, &err);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_order_place", res);
    s_place_answer(p, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
}

/* The part of a placement decided in memory: an answer from the keys in
 * flight or committed, or a refusal (cb called, NULL returned); else the
 * order and its key enter memory and the call is returned, to be sent. */
static s_place_t *s_place_begin(od_app_t *app, const od_order_req_t *req, const char *source,
                                od_place_cb *cb, void *ctx)
{
    s_idem_t *idem = cc_map_get(app->idem, req->key);
    if (idem) {
        if (!s_idem_same(idem, req)) {
            cc_metric_inc(s_m_place[S_CONFLICT]);
            s_refuse(cb, ctx, 409, "idempotency_conflict", "Idempotency-Key",
                     "this Idempotency-Key was used for a different request");
            return NULL;
        }
        if (!idem->done) {
            cc_metric_inc(s_m_place[S_WAITED]);
            if (s_add_waiter(idem, cb, ctx) != 0)
                s_refuse(cb, ctx, 503, "overloaded", NULL, "out of memory");
            return NULL;
        }
        od_order_t *o = cc_map_get(app->orders, idem->order_id);
        if (o) {
            cc_metric_inc(s_m_place[S_EXISTING]);
            cb(ctx, 200, o->id, od_state_name(o->state), NULL);
            return NULL;
        }
        /* Final since: the store knows its state; ask it again below. */
        cc_map_remove(app->idem, req->key);
        s_idem_free(idem);
    }

    od_card_t *card;
    if (!req->card_id[0]) {
        /* An order without a card: its elder's (billingd lets the fund pay
         * an emergency or a mandated one). */
        od_elder_t *e = cc_map_get(app->elders, req->elder_id);
        if (!e) {
            cc_metric_inc(s_m_place[S_CARD]);
            s_refuse(cb, ctx, 422, "unknown_elder", "elder_id", "no elder with this id");
            return NULL;
        }
        card = od_app_nocard(e);
    } else {
        card = cc_map_get(app->cards, req->card_id);
    }
    if (!card || card->status != OD_CARD_ACTIVE) {
        cc_metric_inc(s_m_place[S_CARD]);
        s_refuse(cb, ctx, 422, card ? "card_blocked" : "unknown_card", "card_id",
                 card ? "the card is not active" : "no card with this card_id");
        return NULL;
    }
    if (card->elder && card->elder->deceased) {
        cc_metric_inc(s_m_place[S_CARD]);
        s_refuse(cb, ctx, 422, "elder_deceased", "card_id", "the card's elder is deceased");
        return NULL;
    }

    char oid[CC_UUID_LEN];
    cc_uuid(oid);
    s_place_t *p = calloc(1, sizeof *p);
    idem = calloc(1, sizeof *idem);
    od_order_t *o = s_order_new(oid, card);
    char *notes = strdup(req->notes), *onotes = strdup(req->notes);
    if (!p || !idem || !o || !notes || !onotes || s_add_waiter(idem, cb, ctx) != 0 ||
        cc_map_put(app->idem, req->key, idem, NULL) != 0) {
        cc_error("out_of_memory", "what", "place");
        exit(1);   /* crash-only: nothing was queued */
    }
    snprintf(idem->card_id, sizeof idem->card_id, "%s", req->card_id);
    snprintf(idem->elder_id, sizeof idem->elder_id, "%s", req->elder_id);
    idem->service = req->service;
    idem->window_start_us = req->window_start_us;
    idem->window_end_us = req->window_end_us;
    idem->notes = notes;
    idem->meal_mode = req->meal_mode;
    o->service = req->service;
    o->mandated = strcmp(source, "mandated") == 0;
    o->meal_mode = req->meal_mode;
    o->window_start_us = req->window_start_us;
    o->window_end_us = req->window_end_us;
    o->emergency = req->service == CC__SERVICE__EMERGENCY;
    snprintf(o->meal_point_id, sizeof o->meal_point_id, "%s", req->meal_point_id);
    if (*req->diet && !(o->diet = strdup(req->diet))) {
        cc_error("out_of_memory", "what", "place");
        exit(1);
    }
    free(o->notes);
    o->notes = onotes;
    /* Known before it commits: another daemon may see the commit, and answer
     * it (FundsHeld, VisitAssigned), before our result callback runs. The
     * creation counts as a pending step until then. */
    o->state = o->next = o->emergency ? OD_RELEASED : OD_PLACED;
    o->pending = 1;
    if (cc_map_put(app->orders, o->id, o, NULL) != 0) {
        cc_error("out_of_memory", "what", "orders");
        exit(1);
    }
    p->app = app;
    p->idem = idem;
    p->order = o;
    p->source = source;
    snprintf(p->key, sizeof p->key, "%s", req->key);
    cc_uuid(p->placed_id);
    cc_uuid(p->released_id);
    p->placed = od_app_pack_placed(o, &p->placed_len);
    p->released = o->emergency ? od_app_pack_released(app, o, &p->released_len) : NULL;
    if (!p->placed || (o->emergency && !p->released)) {
        cc_error("out_of_memory", "what", "pack");
        exit(1);
    }
    return p;
}

/* Send one placement alone (od_order_place, or _nocard without a card). */
static void s_place_send(s_place_t *p)
{
    const od_order_t *o = p->order;
    const s_idem_t *idem = p->idem;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[idem->card_id[0] ? OD_ST_ORDER_PLACE : OD_ST_ORDER_PLACE_NOCARD]);
    cc_args_text(&a, "order", o->id);
    cc_args_text(&a, "key", p->key);
    if (idem->card_id[0])
        cc_args_text(&a, "card", idem->card_id);
    else
        cc_args_text(&a, "elder", o->card->elder->id);
    cc_args_text(&a, "service", od_service_name(o->service));
    cc_args_int(&a, "ws", o->window_start_us);
    cc_args_int(&a, "we", o->window_end_us);
    cc_args_text(&a, "notes", idem->notes);
    cc_args_bool(&a, "emergency", o->emergency);
    cc_args_text(&a, "source", p->source);
    cc_args_text(&a, "placed_id", p->placed_id);
    cc_args_text(&a, "meal_mode", od_meal_mode_names[o->meal_mode ? 1 : 0]);
    cc_args_bytes(&a, "placed", p->placed, p->placed_len);
    cc_args_text(&a, "released_id", o->emergency ? p->released_id : NULL);
    if (p->released)
        cc_args_bytes(&a, "released", p->released, p->released_len);
    else
        cc_args_null(&a, "released");
    if (cc_db_call(p->app->rt.writer, &a, s_on_placed, p) != 0) {
        cc_error("db_queue_failed", "what", "od_order_place");
        exit(1);
    }
}

/* ---- batches: a generator's, or requests' gathered on the writer ------------------ */
/* Columns of od_order_place_cols (migration 029), in its parameters' order. */
enum { S_C_ID, S_C_KEY, S_C_CARD, S_C_ELDER, S_C_SERVICE, S_C_WS, S_C_WE, S_C_NOTES, S_C_PID,
       S_C_PLACED, S_C_MODE, S_C_SOURCE, S_NCOLS };

/* od_order_place_many's call (a generator's, made whole) or
 * od_order_place_cols's (requests' gathered by s_gather: it takes rows until
 * its statement is sent). */
typedef struct od_place_open {
    od_app_t *app;
    int n;
    int gathered;                         /* s_gather's; 0: a generator's */
    uint64_t mark;                        /* gathered: cc_rt_audit_mark when queued */
    cc_pgarr_t col[S_NCOLS];              /* gathered: the rows, until sent */
    s_place_t *p[];
} s_batch_t;

/* Rows of one gathered statement at most: a refused statement is sent again
 * row by row, and a statement of the writer's batch should stay short. */
#define S_GATHER_MAX 128

static void s_on_placed_many(PGresult *res, void *arg);

/* cc_db_fill_fn: the gathered rows go; later placements open another. */
static void s_gather_fill(void *arg, char **values)
{
    s_batch_t *b = arg;
    if (b->app->place_open == b)
        b->app->place_open = NULL;
    for (int c = 0; c < S_NCOLS; c++)
        values[c] = cc_pgarr_take(&b->col[c]);
    cc_metric_inc(s_m_gather_stmts);
    cc_metric_add(s_m_gather_rows, b->n);
}

/* p as the next row of b's columns. */
static void s_gather_row(s_batch_t *b, const s_place_t *p)
{
    const od_order_t *o = p->order;
    const s_idem_t *idem = p->idem;
    char num[24], *hex = malloc(2 + p->placed_len * 2 + 1);
    if (!hex) {
        cc_error("out_of_memory", "what", "place_gather");
        exit(1);
    }
    hex[0] = '\\';
    hex[1] = 'x';
    sodium_bin2hex(hex + 2, p->placed_len * 2 + 1, p->placed, p->placed_len);
    cc_pgarr_add(&b->col[S_C_ID], o->id);
    cc_pgarr_add(&b->col[S_C_KEY], p->key);
    cc_pgarr_add(&b->col[S_C_CARD], idem->card_id[0] ? idem->card_id : NULL);
    cc_pgarr_add(&b->col[S_C_ELDER], o->card->elder ? o->card->elder->id : idem->elder_id);
    cc_pgarr_add(&b->col[S_C_SERVICE], od_service_name(o->service));
    snprintf(num, sizeof num, "%" PRId64, o->window_start_us);
    cc_pgarr_add(&b->col[S_C_WS], num);
    snprintf(num, sizeof num, "%" PRId64, o->window_end_us);
    cc_pgarr_add(&b->col[S_C_WE], num);
    cc_pgarr_add(&b->col[S_C_NOTES], idem->notes);
    cc_pgarr_add(&b->col[S_C_PID], p->placed_id);
    cc_pgarr_add(&b->col[S_C_PLACED], hex);
    cc_pgarr_add(&b->col[S_C_MODE], od_meal_mode_names[o->meal_mode ? 1 : 0]);
    cc_pgarr_add(&b->col[S_C_SOURCE], p->source);
    free(hex);
}

/* A request's placement joins the statement of placements queued on the
 * writer and not sent yet, or opens one: one od_order_place_cols instead
 * of an od_order_place per order (its three PL/pgSQL calls and five
 * statements were most of the writer's time per order). The statement
 * keeps its place in the queue, so a placement only ever moves earlier,
 * never behind a statement queued after it; its reply still comes after
 * the batch's COMMIT. It joins only while no audit statement was queued
 * since (cc_rt_audit_mark): its accepted audit row must commit with it or
 * before. */
static void s_gather(od_app_t *app, s_place_t *p)
{
    uint64_t mark = cc_rt_audit_mark();
    s_batch_t *b = app->place_open;
    if (b && (b->n == S_GATHER_MAX || b->mark != mark)) {
        app->place_open = NULL;   /* stays queued as it is */
        b = NULL;
    }
    if (!b) {
        b = malloc(sizeof *b + S_GATHER_MAX * sizeof b->p[0]);
        if (!b) {
            cc_error("out_of_memory", "what", "place_gather");
            exit(1);
        }
        *b = (s_batch_t){ .app = app, .gathered = 1, .mark = mark };
        if (cc_db_exec_fill(app->rt.writer, od_stmts[OD_ST_ORDER_PLACE_COLS].name, S_NCOLS,
                            s_gather_fill, b, s_on_placed_many, b) != 0) {
            cc_error("db_queue_failed", "what", "od_order_place_cols");
            exit(1);
        }
        app->place_open = b;
    }
    s_gather_row(b, p);
    if (b->n > 0)
        app->rt.writer_folded++;
    b->p[b->n++] = p;
}

void od_app_place(od_app_t *app, const od_order_req_t *req, const char *source,
                  od_place_cb *cb, void *ctx)
{
    s_place_t *p = s_place_begin(app, req, source, cb, ctx);
    if (!p)
        return;
    if (p->order->emergency)
        s_place_send(p);      /* released at once: od_order_place's path */
    else
        s_gather(app, p);
}

static void s_on_placed_many(PGresult *res, void *arg)
{
    s_batch_t *b = arg;
    cc_err_t err;
    if (b->app->place_open == b)
        b->app->place_open = NULL;    /* answered unsent (never filled) */
    if (b->gathered) {
        b->app->rt.writer_folded -= b->n - 1;
        for (int c = 0; c < S_NCOLS; c++)
            cc_pgarr_free(&b->col[c]);
    }
    const char *what = b->gathered ? "od_order_place_cols" : "od_order_place_many";
    if (od_app_write_ok(b->app, what, res, &err) != 0) {
        /* Nothing of the batch committed (one statement): each is sent
         * alone, so a row the store refuses fails only itself. */
        cc_warn("place_many_split", "orders", b->n == 1 ? "1" : "several");
        for (int i = 0; i < b->n; i++)
            s_place_send(b->p[i]);
        free(b);
        return;
    }
    if (PQntuples(res) != b->n)
        od_app_db_fatal(what, res);
    for (int r = 0; r < b->n; r++) {
        int i = atoi(PQgetvalue(res, r, 0)) - 1;
        if (i != r)
            od_app_db_fatal(what, res);   /* rows in input order */
        s_place_answer(b->p[i], PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                       PQgetvalue(res, r, 3));
    }
    free(b);
}

/* One row of od_order_place_many's p_rows (migration 021), or NULL. */
static json_t *s_place_row(const s_place_t *p)
{
    const od_order_t *o = p->order;
    const s_idem_t *idem = p->idem;
    char *hex = malloc(p->placed_len * 2 + 1);
    if (!hex) {
        cc_error("out_of_memory", "what", "place_many");
        exit(1);
    }
    sodium_bin2hex(hex, p->placed_len * 2 + 1, p->placed, p->placed_len);
    json_t *row = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}",
                            "id", o->id, "key", p->key,
                            "card", idem->card_id[0] ? idem->card_id : NULL,
                            "elder", o->card->elder ? o->card->elder->id : idem->elder_id,
                            "service", od_service_name(o->service),
                            "ws", (json_int_t)o->window_start_us,
                            "we", (json_int_t)o->window_end_us, "notes", idem->notes,
                            "pid", p->placed_id, "placed", hex,
                            "mode", od_meal_mode_names[o->meal_mode ? 1 : 0]);
    free(hex);
    return row;   /* NULL: a text JSON cannot carry (not UTF-8): sent alone */
}

void od_app_place_many(od_app_t *app, const od_order_req_t *reqs, int n, const char *source,
                       od_place_cb *cb, void *const *ctxs)
{
    s_batch_t *b = malloc(sizeof *b + (size_t)(n > 0 ? n : 1) * sizeof b->p[0]);
    json_t *rows = json_array();
    if (!b || !rows) {
        cc_error("out_of_memory", "what", "place_many");
        exit(1);
    }
    *b = (s_batch_t){ .app = app };
    for (int i = 0; i < n; i++) {
        s_place_t *p = s_place_begin(app, &reqs[i], source, cb, ctxs ? ctxs[i] : NULL);
        if (!p)
            continue;   /* answered from memory */
        if (p->order->emergency) {
            s_place_send(p);   /* released at once: od_order_place's path */
            continue;
        }
        json_t *r = s_place_row(p);
        if (!r) {
            s_place_send(p);
            continue;
        }
        b->p[b->n++] = p;
        json_array_append_new(rows, r);
    }
    if (b->n == 0) {
        free(b);
        json_decref(rows);
        return;
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    if (!text) {
        cc_error("out_of_memory", "what", "place_many");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ORDER_PLACE_MANY]);
    cc_args_text(&a, "rows", text);
    cc_args_text(&a, "source", source);
    if (cc_db_call(app->rt.writer, &a, s_on_placed_many, b) != 0) {
        cc_error("db_queue_failed", "what", "od_order_place_many");
        exit(1);
    }
    free(text);
}

/* Expire committed keys; the store's unique key stays the guard after. */
static int s_expire(const char *k, void *v, void *arg)
{
    (void)k;
    const int64_t *cutoff = arg;
    s_idem_t *i = v;
    if (i->done && i->done_us < *cutoff) {
        s_idem_free(i);
        return 1;
    }
    return 0;
}

void od_app_sweep(od_app_t *app)
{
    int64_t cutoff = cc_mono_us() - app->idem_ttl_us;
    cc_map_each(app->idem, s_expire, &cutoff);
}
