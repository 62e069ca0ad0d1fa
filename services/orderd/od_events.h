/* od_events: the saga's inbound side: handlers for billingd's, dispatchd's
 * and meald's logs (see od_events.c). */
#ifndef OD_EVENTS_H
#define OD_EVENTS_H
#include "cc_evlog.h"
#include "od_app.h"

/* The consumer tables of billingd's, dispatchd's and meald's logs (arg: the
 * app): the events orderd applies, unpacked and schema-checked by the
 * consumer before the handler runs. */
extern const cc_consumer_entry_t od_events_from_billingd[];
extern const cc_consumer_entry_t od_events_from_dispatchd[];
extern const cc_consumer_entry_t od_events_from_meald[];
/* Register the per-type counters (once, before consuming). */
void od_events_init_metrics(void);

#endif
