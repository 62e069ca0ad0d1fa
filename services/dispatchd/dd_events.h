/* dd_events: what dispatchd does with orderd's log (VisitReleased, and
 * OrderReleased of older logs; OrderCancelled; see dd_events.c). */
#ifndef DD_EVENTS_H
#define DD_EVENTS_H
#include "cc_evlog.h"
#include "dd_app.h"

/* The consumer table for orderd's log (the types cc_grants serves us);
 * its arg is the dd_app_t. Other types are skipped by the consumer. */
extern const cc_consumer_entry_t dd_events_from_orderd[];

#endif
