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
#include "cc_stmt.h"

/* Consumer tables for orderd's log and for dispatchd's and meald's logs;
 * their arg is the bd_app_t. */
extern const cc_consumer_entry_t bd_events_from_orderd[];
extern const cc_consumer_entry_t bd_events_from_dispatchd[];
extern const cc_consumer_entry_t bd_events_from_meald[];

/* What a handler decides for one event before its SQL, without a database
 * or a socket (the handlers queue args; tests/fuzz/billingd_events.c calls
 * the same): the card opened or its status set, the hold decided and
 * committed to the ledger in memory (OrderPlaced), captured or released
 * (OrderCompleted, OrderCancelled, OrderFailed), the event billingd appends
 * for it, and the effect call's arguments. A failed statement takes the
 * memory change back in the result callback. */
struct bd_effect_ctx;   /* the result callback's context (bd_events.c) */
typedef struct {
    cc_args_t args;            /* borrows from this struct, env and msg */
    struct bd_effect_ctx *ctx; /* NULL: nothing to queue (known card, no hold ...) */
    cc_db_fn *done;            /* its result callback */
    uint8_t *payload;          /* the appended event, or NULL */
    size_t plen;
    char transfer[CC_UUID_LEN], out_id[CC_UUID_LEN];
    char *accounts, *amounts;  /* the postings as array literals (bd_store_postings) */
} bd_effect_t;
/* msg: env's payload, unpacked and schema-checked (cc_consumer_decode) by
 * one of the tables above (not AccountChanged: cc_revoke's). 0 with *e
 * filled, args ready when e->ctx is set; -1: the event is unusable (the
 * consumer rejects it). Free *e with bd_effect_free either way. Exits on
 * out of memory or a ledger that refuses a decided commit, as the
 * handlers do. */
int bd_events_decide(bd_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     bd_effect_t *e);
void bd_effect_free(bd_effect_t *e);

#endif
