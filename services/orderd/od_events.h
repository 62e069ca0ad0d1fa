/* od_events: the saga's inbound side: handlers for billingd's, dispatchd's
 * and meald's logs (see od_events.c). */
#ifndef OD_EVENTS_H
#define OD_EVENTS_H
#include "cc_evlog.h"
#include "od_app.h"

/* The consumer table for a producer's log ("billingd", "dispatchd",
 * "meald"); its arg is the od_app_t. NULL for any other name. */
const cc_consumer_entry_t *od_events_table(const char *producer);
/* Register the per-type counters (once, before consuming). */
void od_events_init_metrics(void);

#endif
