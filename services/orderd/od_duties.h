/* od_duties: the county's duties run by orderd (docs/DUTIES.md).
 *
 *   - GET/PUT /v1/rules/duties: the versioned rule sets (od_duty_rules.h);
 *   - the mandated generator: on a timer, and within seconds of a change to
 *     the rules, an elder, a card, a contact logged or a mandated order that
 *     ended unserved, it places the orders due within --duty-horizon-days
 *     through od_app_place (the saga of POST /v1/orders) with source
 *     "mandated" (OrderPlaced.mandated: free to the elder) and the key
 *     duty:<rule>:<elder>:<period>:<n>;
 *   - POST /v1/elders/{id}/contacts-log, GET /v1/coverage, and
 *     GET /v1/orders?elder_id=[&mandated=] (od_http.c hands it here).
 * One generator run at a time; its placements go out at most
 * S_INFLIGHT at once, each idempotent, so a run cut short (kill -9) is
 * finished by the next one and creates nothing twice. */
#ifndef OD_DUTIES_H
#define OD_DUTIES_H
#include <stdint.h>
#include "cc_http.h"
#include "od_app.h"
#include "cc_consumer.h"
#include "events.pb-c.h"

/* Config (main.c's params point here). */
extern int64_t od_duties_horizon_days;   /* --duty-horizon-days */
extern int64_t od_duties_interval_s;     /* --duty-interval-s: full run period */
extern int64_t od_duties_poll_s;         /* --duty-poll-s: change check period */

/* Statements and metrics (od_app_init), timers and a first run (od_app_start:
 * idempotent), stop, free. */
int od_duties_init(od_app_t *app);
int od_duties_start(od_app_t *app);
void od_duties_stop(od_app_t *app);
void od_duties_fini(od_app_t *app);
/* Something the duties depend on changed: run within a second or two. */
void od_duties_kick(void);

/* Routes (od_http.c's table). */
void od_duties_get_rules(cc_http_req_t *req, void *app);
void od_duties_put_rules(cc_http_req_t *req, void *app);
void od_duties_post_contact(cc_http_req_t *req, void *app);
void od_duties_get_coverage(cc_http_req_t *req, void *app);
/* GET /v1/orders with elder_id (and optional mandated=true|false, state,
 * limit): orders of one elder, newest first, each with "mandated" and,
 * for a duty's, "duty_key". */
void od_duties_list_orders(cc_http_req_t *req, od_app_t *app, const char *elder_id);

/* CapacityReported from dispatchd's log: the latest figures per district
 * and day into duty_capacity (migration 022), which the next run reads. */
int od_duties_on_capacity(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                          void *arg);

#endif
