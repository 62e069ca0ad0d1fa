/* od_states: the order states of the saga (docs/ARCHITECTURE.md), C's only
 * copy. The SQL side's copy is the table order_states
 * (sql/orderd/008_order_states.sql); orderd compares the two at start-up
 * (od_states_check, called by od_store's load) and refuses to run when they
 * differ. A new state is a row here and a row there, in one change.
 *
 * X(enum, name, final, cancellable):
 *   final        no event moves the order any more (history only)
 *   cancellable  POST /v1/orders/{id}/cancel may cancel it */
#ifndef OD_STATES_H
#define OD_STATES_H

#define OD_STATES(X)                                \
    X(OD_PLACED,      "placed",      false, true)   \
    X(OD_FUNDS_HELD,  "funds_held",  false, true)   \
    X(OD_RELEASED,    "released",    false, true)   \
    X(OD_ASSIGNED,    "assigned",    false, true)   \
    X(OD_IN_PROGRESS, "in_progress", false, false)  \
    X(OD_COMPLETED,   "completed",   false, false)  \
    X(OD_BILLED,      "billed",      true,  false)  \
    X(OD_DENIED,      "denied",      true,  false)  \
    X(OD_CANCELLED,   "cancelled",   true,  false)  \
    X(OD_FAILED,      "failed",      true,  false)

#endif
