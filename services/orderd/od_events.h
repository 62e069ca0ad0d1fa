/* od_events: the saga's inbound side: handlers for billingd's, dispatchd's
 * and meald's logs (see od_events.c). */
#ifndef OD_EVENTS_H
#define OD_EVENTS_H
#include "cc_evlog.h"
#include "od_app.h"

/* The consumers of billingd's, dispatchd's and meald's logs (arg: the app). */
int od_events_on_billingd(cc_consumer_t *c, const Cc__Envelope *env, void *arg);
int od_events_on_dispatchd(cc_consumer_t *c, const Cc__Envelope *env, void *arg);
int od_events_on_meald(cc_consumer_t *c, const Cc__Envelope *env, void *arg);
/* Register the per-type counters (once, before consuming). */
void od_events_init_metrics(void);

#endif
