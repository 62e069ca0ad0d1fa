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

/* Consumer tables for orderd's log and for dispatchd's and meald's logs;
 * their arg is the bd_app_t. */
extern const cc_consumer_entry_t bd_events_from_orderd[];
extern const cc_consumer_entry_t bd_events_from_dispatchd[];
extern const cc_consumer_entry_t bd_events_from_meald[];

#endif
