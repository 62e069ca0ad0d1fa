/* billingd_events: the events billingd consumes (bd_events.c tables:
 * orderd's cards, accounts and orders, dispatchd's and meald's delivery
 * evidence) through the consumer's checks, then what the handlers decide
 * bd_events_decide, the function the handlers run before their SQL, in a
 * ledger that lives for one input: cards opened, holds decided and
 * committed (OrderPlaced), captured or released (OrderCompleted,
 * OrderCancelled, OrderFailed), the event billingd appends for each
 * (FundsHeld, FundsDenied, HoldCaptured, HoldReleased) and the effect
 * call's arguments (fuzz_args.h). bd_events_decide exits when a commit
 * fails and cc_event_pack asserts the outgoing schema: either here means an
 * accepted event would stop billingd at every restart. The extra record (see fuzz_events.h) is
 * a top-up of 500 yuan to the card whose id is its payload.
 * Input: see fuzz_events.h. */
#include "fuzz_events.h"
#include "fuzz_args.h"
#include "bd_events.h"
#include "bd_ledger.h"
#include "bd_pricing.h"
#include "cc_revoke.h"

static const fz_log_t s_tab[] = {
    { "orderd", bd_events_from_orderd },
    { "dispatchd", bd_events_from_dispatchd },
    { "meald", bd_events_from_meald },
};

static const fz_log_t *s_logs(size_t *n)
{
    *n = sizeof s_tab / sizeof s_tab[0];
    return s_tab;
}

static bd_app_t s_app;
static bd_ledger_t *s_ledger;
static bd_pricing_t *s_pricing;

static void s_begin(void)
{
    if (!s_pricing) {
        /* The default price list and two rules of the kinds billingd has. */
        s_pricing = bd_pricing_new();
        static const int64_t prices[] = { 0, 1500, 8000, 5000, 6000, 9000, 12000, 4000, 0 };
        for (int svc = 1; svc <= 8; svc++)
            if (!s_pricing || bd_pricing_set_price(s_pricing, svc, prices[svc]) != 0)
                abort();
        bd_rule_t share = { 1, -1, "alone", 80, -1, 0, 5000, -1, 20000 };
        bd_rule_t fixed = { 2, 1, "", -1, -1, 1, -1, 1000, -1 };
        if (bd_pricing_add_rule(s_pricing, &share) != 0
            || bd_pricing_add_rule(s_pricing, &fixed) != 0)
            abort();
    }
    s_ledger = bd_ledger_new();
    if (!s_ledger)
        abort();
}

static void s_end(void)
{
    bd_ledger_destroy(&s_ledger);
}

static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len)
{
    (void) log;
    char card[BD_ID_LEN];
    snprintf(card, sizeof card, "%.*s", (int) (len < BD_ID_LEN - 1 ? len : BD_ID_LEN - 1),
             (const char *) data);
    bd_topup_decision_t d;
    if (bd_ledger_decide_topup(s_ledger, card, 50000, BD_SRC_FAMILY, &d) == 0
        && bd_ledger_apply(s_ledger, &d.postings) != 0)
        abort();   /* decided, so it must apply */
}

/* bd_events_decide, the function the handlers run before queuing their
 * SQL, on the ledger in memory; its arguments checked (fuzz_args.h). */
static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    if (strcmp(env->type, "AccountChanged") == 0) {
        /* cc_revoke's own handler; no statement table registered
         * (cc_revoke_sync): memory only. */
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
        return;
    }
    s_app.ledger = s_ledger;
    s_app.pricing = s_pricing;
    bd_effect_t e;
    int rc = bd_events_decide(&s_app, env, msg, &e);
    if (rc == 0 && e.ctx) {
        static const char *const ids[] = { "caregiver", "visit", "meal_point", NULL };
        fz_args_check(&e.args, ids);
    }
    bd_effect_free(&e);
}
