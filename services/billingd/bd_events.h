/* bd_events: orderd's log as billingd applies it.
 *   CardIssued          open the card's accounts
 *   CardStatusChanged   active | blocked | closed
 *   OrderPlaced         hold (FundsHeld) or deny (FundsDenied)
 *   OrderCompleted      capture (HoldCaptured)
 *   OrderCancelled, OrderFailed   release (HoldReleased)
 * Each is one SQL function call (cc_consume first), so each applies exactly
 * once whatever is redelivered; other types are skipped.
 *
 * dispatchd's VisitCompleted and meald's MealDelivered are recorded as
 * delivery evidence (no positions: times and distance only) for
 * reconciliation against the captures; they move no money. */
#ifndef BD_EVENTS_H
#define BD_EVENTS_H
#include "bd_app.h"

/* cc_consumer_fn for orderd's log; arg is the bd_app_t. */
int bd_events_on_orderd(cc_consumer_t *c, const Cc__Envelope *env, void *arg);
/* cc_consumer_fn for dispatchd's and meald's logs; arg is the bd_app_t. */
int bd_events_on_dispatchd(cc_consumer_t *c, const Cc__Envelope *env, void *arg);
int bd_events_on_meald(cc_consumer_t *c, const Cc__Envelope *env, void *arg);

#endif
