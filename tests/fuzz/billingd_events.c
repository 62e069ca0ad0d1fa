/* billingd_events: the events billingd consumes (bd_events.c tables:
 * orderd's cards, accounts and orders, dispatchd's and meald's delivery
 * evidence) through the consumer's checks, then what the handlers decide
 * in memory, in a ledger that lives for one input: cards opened, holds
 * decided and committed (OrderPlaced), captured or released (OrderCompleted,
 * OrderCancelled, OrderFailed), and the event billingd appends for each
 * (FundsHeld, FundsDenied, HoldCaptured, HoldReleased) built and packed as
 * the handlers do. The handlers exit when a commit fails and cc_event_pack
 * asserts the outgoing schema: either here means an accepted event would
 * stop billingd at every restart. The extra record (see fuzz_events.h) is
 * a top-up of 500 yuan to the card whose id is its payload.
 * Input: see fuzz_events.h. */
#include "fuzz_events.h"
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

static void s_pack(const ProtobufCMessage *m)
{
    size_t len = 0;
    uint8_t *p = cc_event_pack(m, &len);
    if (!p)
        abort();
    free(p);
}

/* s_order_placed of bd_events.c, without its SQL. */
static void s_placed(const Cc__Envelope *env, const Cc__OrderPlaced *m)
{
    if (bd_ledger_hold(s_ledger, m->order_id))
        return;
    int service = (int) m->service;
    bd_order_t o = {
        .order_id = m->order_id,
        .card_id = m->card_id,
        .service = service,
        .emergency = m->emergency || service == CC__SERVICE__EMERGENCY,
        .mandated = m->mandated,
        .district_id = m->district_id,
        .household = m->household,
        .age_years = m->age_years,
        .placed_us = env->time_us,
    };
    bd_hold_decision_t d;
    bd_ledger_decide_hold(s_ledger, s_pricing, &o, &d);
    if (!d.held)
        snprintf(d.hold.order_id, sizeof d.hold.order_id, "%s", m->order_id);
    if (bd_ledger_commit_hold(s_ledger, &d) < 0)
        abort();   /* the handler exits: hold_commit_failed */
    if (d.held) {
        Cc__FundsHeld fh = CC__FUNDS_HELD__INIT;
        fh.order_id = m->order_id;
        fh.card_id = m->card_id;
        fh.price_fen = d.hold.price_fen;
        fh.subsidy_fen = d.hold.subsidy_fen;
        fh.held_fen = d.hold.held_fen;
        fh.arrears_fen = d.hold.arrears_fen;
        s_pack(&fh.base);
    } else {
        Cc__FundsDenied fd = CC__FUNDS_DENIED__INIT;
        fd.order_id = m->order_id;
        fd.card_id = m->card_id;
        fd.price_fen = d.quote.price_fen;
        fd.available_fen = d.available_fen;
        fd.reason = (char *) d.reason;
        s_pack(&fd.base);
    }
    (void) bd_month_of(o.placed_us);
}

/* s_order_closed of bd_events.c, without its SQL. */
static void s_closed(const char *order_id, int capture, const char *provider_id)
{
    if (!bd_ledger_hold(s_ledger, order_id))
        return;
    bd_close_decision_t d;
    int rc = capture ? bd_ledger_decide_capture(s_ledger, order_id, provider_id, &d)
                     : bd_ledger_decide_release(s_ledger, order_id, &d);
    if (rc < 0)
        return;   /* rejected by the handler ("handler") */
    if (bd_ledger_commit_close(s_ledger, &d) < 0)
        abort();   /* the handler exits: close_commit_failed */
    if (capture) {
        Cc__HoldCaptured hc = CC__HOLD_CAPTURED__INIT;
        hc.order_id = (char *) order_id;
        hc.card_id = d.hold.card_id;
        hc.charged_fen = d.charged_fen;
        hc.subsidy_fen = d.hold.subsidy_fen;
        hc.provider_id = d.provider_id;
        s_pack(&hc.base);
    } else {
        Cc__HoldReleased hr = CC__HOLD_RELEASED__INIT;
        hr.order_id = (char *) order_id;
        hr.card_id = d.hold.card_id;
        hr.released_fen = d.released_fen;
        hr.arrears_paid_fen = d.arrears_paid_fen;
        s_pack(&hr.base);
    }
}

static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg)
{
    (void) log;
    const char *t = env->type;
    if (strcmp(t, "CardIssued") == 0) {
        const Cc__CardIssued *m = (const Cc__CardIssued *) msg;
        if (bd_ledger_card(s_ledger, m->card_id))
            return;
        const char *household = m->household[0] ? m->household : "none";
        bd_card_t *card = bd_ledger_open_card(s_ledger, m->card_id, m->district_id, household,
                                              m->age_years);
        if (!card)
            abort();   /* the handler exits: out_of_memory */
        snprintf(card->elder_id, sizeof card->elder_id, "%s", m->elder_id);
    } else if (strcmp(t, "CardStatusChanged") == 0) {
        const Cc__CardStatusChanged *m = (const Cc__CardStatusChanged *) msg;
        int st = bd_card_status_parse(m->status);
        bd_card_t *card = bd_ledger_card(s_ledger, m->card_id);
        if (st >= 0 && card)
            card->status = (bd_card_status_t) st;
    } else if (strcmp(t, "AccountChanged") == 0) {
        /* No statement table registered (cc_revoke_sync): memory only. */
        if (cc_revoke_on_account_changed(NULL, env, msg, NULL) != 0)
            abort();
    } else if (strcmp(t, "OrderPlaced") == 0) {
        s_placed(env, (const Cc__OrderPlaced *) msg);
    } else if (strcmp(t, "OrderCompleted") == 0) {
        const Cc__OrderCompleted *m = (const Cc__OrderCompleted *) msg;
        s_closed(m->order_id, 1, m->provider_id);
    } else if (strcmp(t, "OrderCancelled") == 0) {
        s_closed(((const Cc__OrderCancelled *) msg)->order_id, 0, NULL);
    } else if (strcmp(t, "OrderFailed") == 0) {
        s_closed(((const Cc__OrderFailed *) msg)->order_id, 0, NULL);
    }
    /* VisitCompleted, MealDelivered: evidence rows only (SQL). */
}
