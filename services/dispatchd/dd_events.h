/* dd_events: what dispatchd does with orderd's log (OrderReleased,
 * OrderCancelled; see dd_events.c). */
#ifndef DD_EVENTS_H
#define DD_EVENTS_H
#include "cc_evlog.h"
#include "dd_app.h"

/* The cc_consumer_fn for orderd's log; arg is the dd_app_t. env is borrowed.
 * Returns 0 (applied or skipped), or -1 for a malformed event (counted in
 * m_events_bad; the consumer decides what to do with it). */
int dd_on_order_event(cc_consumer_t *c, const Cc__Envelope *env, void *arg);

#endif
