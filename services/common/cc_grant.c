/* cc_grant: the event types each reader of each log is served. See cc_grant.h.
 * A type is granted when its reader applies it (its consumer table has an
 * entry for it), and only then: the rows below are the union of the
 * daemons' consumer tables, checked against them at start (cc_rt). */
#include "cc_grant.h"

#include <stddef.h>
#include <string.h>

/* orderd's log. Releases are split per reader: VisitReleased to dispatchd,
 * MealReleased to meald; OrderReleased (appended before the split, still in
 * old logs) to both, never to billingd. */
static const char *const s_orderd_billingd[] = {
    "CardIssued", "CardStatusChanged", "OrderPlaced", "OrderCompleted", "OrderCancelled",
    "OrderFailed", "AccountChanged", NULL,
};
static const char *const s_orderd_dispatchd[] = {
    "VisitReleased", "OrderReleased", "OrderCancelled", "AccountChanged", NULL,
};
static const char *const s_orderd_meald[] = {
    "MealReleased", "OrderReleased", "OrderCancelled", "AccountChanged", NULL,
};
/* billingd's log. */
static const char *const s_billingd_orderd[] = {
    "FundsHeld", "FundsDenied", "HoldCaptured", "HoldReleased", NULL,
};
/* dispatchd's log: check-in GPS goes to orderd (the order's progress), the
 * completion to billingd (capture, provider settlement); an assessment's
 * result (health data) to orderd only, and a district's capacity per day
 * (the duty generator's). */
static const char *const s_dispatchd_orderd[] = {
    "VisitAssigned", "VisitAccepted", "VisitDeclined", "VisitCheckedIn", "VisitCompleted",
    "VisitFailed", "VisitAssessed", "CapacityReported", NULL,
};
static const char *const s_dispatchd_billingd[] = { "VisitCompleted", NULL };
/* meald's log. */
static const char *const s_meald_orderd[] = {
    "MealScheduled", "MealRefused", "MealDelivered", NULL,
};
static const char *const s_meald_billingd[] = { "MealDelivered", NULL };

const cc_grant_t cc_grants[] = {
    { "orderd", "billingd", s_orderd_billingd },
    { "orderd", "dispatchd", s_orderd_dispatchd },
    { "orderd", "meald", s_orderd_meald },
    { "billingd", "orderd", s_billingd_orderd },
    { "dispatchd", "orderd", s_dispatchd_orderd },
    { "dispatchd", "billingd", s_dispatchd_billingd },
    { "meald", "orderd", s_meald_orderd },
    { "meald", "billingd", s_meald_billingd },
    { NULL, NULL, NULL },
};

const cc_grant_t *cc_grant_find(const cc_grant_t *table, const char *log, const char *reader)
{
    if (!table || !log || !reader)
        return NULL;
    for (const cc_grant_t *g = table; g->log; g++)
        if (strcmp(g->log, log) == 0 && strcmp(g->reader, reader) == 0)
            return g;
    return NULL;
}

int cc_grant_allows(const cc_grant_t *row, const char *type)
{
    if (!row || !type)
        return 0;
    for (const char *const *t = row->types; *t; t++)
        if (strcmp(*t, type) == 0)
            return 1;
    return 0;
}
