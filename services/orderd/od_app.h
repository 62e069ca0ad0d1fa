/* od_app: orderd's context and working set, and the two write paths that
 * HTTP and the ZeroMQ intake share (placing and cancelling orders).
 *
 * Working set (loaded from the store at start, then kept by the write
 * callbacks): elders' decision attributes (no names, phones or ID numbers),
 * cards, open orders, and idempotency keys in flight or recently committed.
 *
 * An order enters memory when its placement is queued (pending until the
 * store reports it created): other daemons can see the commit, and answer
 * it, before the writer's result callback runs here.
 *
 * Orders carry two states: `state` is what has committed; `next` is what the
 * steps queued on the writer will make it. Decisions are taken against
 * `next`, because the consumer queues a whole fetched batch (e.g. FundsHeld
 * and VisitAssigned for one order) before any of it commits. The store
 * repeats the final-state rule, and each result callback sets `state` from
 * what the store reports. */
#ifndef OD_APP_H
#define OD_APP_H
#include <stdint.h>
#include <stdbool.h>
#include <event2/event.h>
#include "cc_db.h"
#include "cc_rt.h"
#include "cc_seal.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_json.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include "od_domain.h"
#include "cc_map.h"
#include "od_req.h"

typedef struct od_elder {
    char id[CC_UUID_LEN];
    int32_t district_id;
    double lat, lon;
    int birth_y, birth_m, birth_d;
    uint8_t ability, household, living;   /* indexes into od_*_names */
    bool deceased;                        /* status deceased (od_elders): no new orders */
    char *diet;                           /* heap, "" allowed */
    /* The address as stored (sealed by od_pii, heap; NULL while its row is
     * in clear): opened only to seal it again for dispatchd or meald at
     * release (od_app_pack_released). */
    uint8_t *address_enc;
    size_t address_enc_len;
    /* Continuity of care: caregiver of the last completed visit per service
     * (index = Cc__Service). Empty string if none. */
    char last_caregiver[OD_SERVICE_COUNT][CC_UUID_LEN];
    /* The card an order without one points at (id "", active; made by
     * od_app_nocard, heap): an alarm's order for an elder with no card. */
    struct od_card *nocard;
} od_elder_t;

typedef enum { OD_CARD_ACTIVE = 0, OD_CARD_BLOCKED, OD_CARD_CLOSED } od_card_status_t;
extern const char *const od_card_status_names[];

typedef struct od_card {
    char id[CC_UUID_LEN];
    od_elder_t *elder;                    /* borrowed from app->elders */
    od_card_status_t status;
} od_card_t;

typedef struct od_order {
    char id[CC_UUID_LEN];
    od_card_t *card;                      /* borrowed */
    int service;
    int64_t window_start_us, window_end_us;
    bool emergency;
    bool mandated;                        /* placed by the duties' generator (od_duties.c) */
    int meal_mode;                        /* Cc__MealMode (meals) */
    od_state_t state;                     /* committed */
    od_state_t next;                      /* after the queued steps */
    int pending;                          /* steps queued, not yet committed */
    char caregiver_id[CC_UUID_LEN];       /* current assignment, for continuity */
    char *notes;                          /* heap */
    /* A care plan's meal: its point ("" the nearest) and diet (heap; NULL
     * the elder's), carried in MealReleased. */
    char meal_point_id[CC_UUID_LEN];
    char *diet;
} od_order_t;

/* Answer for a placement: status 202 created, 200 existing, 4xx refused
 * (err filled). order_id/state are NULL when refused. Called exactly once. */
typedef void (od_place_cb)(void *ctx, int status, const char *order_id, const char *state,
                           const cc_err_t *err);

typedef struct od_intake od_intake_t;
typedef struct od_auth od_auth_t;
typedef struct od_pii od_pii_t;
typedef struct od_reseal od_reseal_t;

typedef struct od_app {
    cc_rt_t rt;                           /* first: handles and common config */
    int64_t idem_ttl_s;                   /* config */
    /* Embedded token issuer (od_auth), config. */
    char *issuer_key;                     /* secret key file (tools/tokens.py keygen) */
    char *seed_accounts;                  /* JSON list of accounts to create ("": none) */
    int64_t access_ttl_s, refresh_ttl_s;
    int64_t lockout_max, lockout_window_s;
    int64_t auth_threads, auth_queue;
    od_auth_t *auth;
    char *intake_endpoint;                /* config: ZeroMQ PlaceOrder ROUTER */
    char *intake_clients;                 /* config: who may use it (CURVE key names) */
    od_intake_t *intake;
    char *pii_key_file;                   /* config: active data key (od_pii.h) */
    char *pii_old_key_file;               /* config: old data key during a rotation, or "" */
    char *pii_index_key_file;             /* config: blind-index key */
    int64_t pii_batch;                    /* config: rows sealed per batch */
    /* Care plans' generator (od_plans.h), config. */
    int64_t plan_horizon_days, plan_batch, plan_interval_s;
    /* Both generators place their next batch only while the writer holds
     * fewer statements than this (config --gen-pace). */
    int64_t gen_pace;
    /* The generators' bulk reads (duties' loads, plans due): a connection of
     * their own, so the call centre's GETs on the reader never queue behind
     * them. */
    cc_db_t *bulk;
    od_pii_t *pii;                        /* keyring, loaded by od_app_init */
    /* The address in transit (cc_seal.h "an elder's address in transit"):
     * the consumers' transit keys, loaded by od_app_init. */
    char *dispatchd_address_key_file;     /* config, "": <curve-keys-dir>/dispatchd-address.key */
    char *meald_address_key_file;         /* config, "": <curve-keys-dir>/meald-address.key */
    cc_seal_t *address_dispatchd;
    cc_seal_t *address_meald;
    od_reseal_t *reseal;                  /* seals rows in clear or under the old key */
    struct event *ev_sweep;               /* expires committed idempotency keys */
    cc_map_t *elders;                     /* id -> od_elder_t */
    cc_map_t *cards;                      /* id -> od_card_t */
    cc_map_t *orders;                     /* id -> od_order_t (open only) */
    cc_map_t *idem;                       /* key -> s_idem (od_app.c) */
    int loads_pending;
    /* Placements of HTTP and ZeroMQ requests gathered in one statement
     * already queued on the writer, still open for more (od_app.c). */
    struct od_place_open *place_open;
    int64_t idem_ttl_us;                  /* keep committed keys this long */
    int64_t state_count[OD_STATE_COUNT];  /* committed orders by state */
    cc_metric_t *m_state[OD_STATE_COUNT];
    cc_metric_t *m_open;
    /* Alarms and their notifications (od_alarm.h, docs/ALARMS.md), config. */
    char *alarm_endpoint;                 /* ZeroMQ ROUTER taking RaiseAlarm ("": off) */
    char *alarm_clients;                  /* device gateways (CURVE key names) */
    char *notify_url;                     /* SMS/voice gateway webhook ("": not sent) */
    int64_t alarm_escalate_s;             /* unacknowledged this long: call centre */
    int64_t notify_max_attempts, notify_backoff_ms, notify_timeout_s;
    struct od_alarms *alarms;
} od_app_t;

/* Runtime hooks (cc_rt_spec_t): personal-data keys (a bad or missing key
 * file: logged, exit 2), maps, metrics, intake and sweep timer; re-seal
 * rows under the old key in the background; stop the intake; free
 * everything init made (after the loop). */
int od_app_init(void *app);
int od_app_start(void *app);
void od_app_stop(void *app);
void od_app_fini(void *app);

/* Working set (used by the loaders and the write callbacks). */
od_elder_t *od_app_add_elder(od_app_t *app, const char *id);   /* new or existing */
od_card_t *od_app_add_card(od_app_t *app, const char *id, od_elder_t *elder, int status);
od_order_t *od_app_add_order(od_app_t *app, const char *id, od_card_t *card);
/* Move a committed order to state s: keep counts and gauges; an order that
 * is final with nothing pending leaves memory. */
void od_app_order_committed(od_app_t *app, od_order_t *o, od_state_t s);
void od_app_count_state(od_app_t *app, od_state_t s, int64_t delta);
int od_app_age_years(const od_elder_t *e, int64_t now_us);

/* The card of an elder's orders without one (id "", active): made on first
 * use, freed with the elder. Exits when out of memory. */
od_card_t *od_app_nocard(od_elder_t *e);
/* The OrderPlaced of an order (what billingd prices by; card_id "" for an
 * order without a card). Caller frees; NULL when out of memory. */
uint8_t *od_app_pack_placed(const od_order_t *o, size_t *len);

/* Place an order (HTTP and ZeroMQ): idempotency by key (in memory for keys
 * in flight or recent, then the store's unique key), card check, events.
 * cb(ctx, ...) is called once, possibly before od_app_place returns. */
void od_app_place(od_app_t *app, const od_order_req_t *req, const char *source,
                  od_place_cb *cb, void *ctx);

/* Place n orders (the generators: od_plans, od_duties): each decided as
 * od_app_place decides it, but those that reach the store go in one
 * statement (od_order_place_many, sql/orderd/021): one writer call for the
 * batch instead of one per order. cb(ctxs[i], ...) once for each (ctxs may
 * be NULL); an emergency is sent alone. A batch the store refuses as a
 * whole is sent again one order at a time. */
void od_app_place_many(od_app_t *app, const od_order_req_t *reqs, int n, const char *source,
                       od_place_cb *cb, void *const *ctxs);

/* Forget committed idempotency keys older than app->idem_ttl_us. */
void od_app_sweep(od_app_t *app);
/* Count a placement refused before it reached the store (bad input). */
void od_app_count_invalid(void);

/* A mandated order's duty rank for VisitReleased.priority: 2 a contact
 * duty, 1 another mandated order, 0 not mandated. */
int od_app_duty_rank(const od_order_t *o);
/* Build and pack the release of an order for its one reader: MealReleased
 * (meald: where, when, diet) for a meal, else VisitReleased (dispatchd:
 * where, when, ability level, priority, notes, continuity of care); both
 * with the elder's address sealed for that reader (cc_seal_address; none
 * when the elder's address is not sealed yet or app has no keys). The
 * store appends it under the matching type. Caller frees. */
uint8_t *od_app_pack_released(const od_app_t *app, const od_order_t *o, size_t *len);
/* Keep a copy of the elder's stored (od_pii sealed) address. Exits when
 * out of memory. */
void od_app_elder_address(od_elder_t *e, const uint8_t *sealed, size_t len);

/* A result that cannot be (a successful one of the wrong shape): log and
 * exit(1), cc_db_fatal. */
void od_app_db_fatal(const char *what, PGresult *res) __attribute__((noreturn));
/* A write's result: 0 when it succeeded; else -1, logged and counted
 * (cc_rt_write_failed) with *err (may be NULL) the answer for its request.
 * Never a reload: orderd's memory changes only with what the store reports
 * (an order's `state`; its `next` is dropped when nothing is pending, a
 * placement not committed leaves memory), so the caller just forgets what
 * it had decided. */
int od_app_write_ok(od_app_t *app, const char *what, PGresult *res, cc_err_t *err);

#endif
