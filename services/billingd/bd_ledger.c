/* bd_ledger: see bd_ledger.h. */
#include "bd_ledger.h"
#include "bd_alloc.h"
#include "cc_map.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bd_ledger {
    cc_map_t *accounts;             /* name -> bd_account_t* (owned) */
    cc_map_t *cards;                /* card_id -> bd_card_t* (owned) */
    cc_map_t *holds;                /* order_id -> bd_hold_t* (owned), open holds */
    cc_map_t *usage;                /* "card|rule|month" -> int64_t* (owned) */
    int64_t kind_total[BD_ACC_KINDS];   /* sum of balances per kind */
};

static const char *const s_status_names[] = { "active", "blocked", "closed" };
static const char *const s_source_names[] = { "family", "subsidy", "allowance" };
static const char *const s_hold_names[] = { "held", "captured", "released", "denied" };

const char *bd_card_status_name(bd_card_status_t s)
{
    return (unsigned)s < 3 ? s_status_names[s] : "unknown";
}

int bd_card_status_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, s_status_names[i]) == 0)
            return i;
    return -1;
}

const char *bd_source_name(bd_source_t s)
{
    return (unsigned)s < BD_SRC_COUNT ? s_source_names[s] : "unknown";
}

int bd_source_parse(const char *s)
{
    for (int i = 0; s && i < BD_SRC_COUNT; i++)
        if (strcmp(s, s_source_names[i]) == 0)
            return i;
    return -1;
}

const char *bd_hold_state_name(bd_hold_state_t s)
{
    return (unsigned)s < 4 ? s_hold_names[s] : "unknown";
}

/* A card or order id: 1..36 characters of hex digits and dashes. Keeps the
 * account names parseable; UUID syntax proper is checked at the edges. */
static int s_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= BD_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
              || c == '-'))
            return 0;
    }
    return 1;
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int bd_account_kind(const char *name)
{
    if (!name || strlen(name) >= BD_ACCOUNT_LEN)
        return -1;
    if (strncmp(name, "card:", 5) == 0) {
        if (s_ends_with(name, ":available"))
            return BD_ACC_AVAILABLE;
        if (s_ends_with(name, ":held"))
            return BD_ACC_HELD;
        if (s_ends_with(name, ":arrears"))
            return BD_ACC_ARREARS;
        return -1;
    }
    if (strcmp(name, "subsidy_fund") == 0)
        return BD_ACC_SUBSIDY_FUND;
    if (strncmp(name, "provider:", 9) == 0 && name[9])
        return BD_ACC_PROVIDER;
    if (strcmp(name, "source:family") == 0)
        return BD_ACC_SOURCE_FAMILY;
    if (strcmp(name, "source:subsidy") == 0)
        return BD_ACC_SOURCE_SUBSIDY;
    if (strcmp(name, "source:allowance") == 0)
        return BD_ACC_SOURCE_ALLOWANCE;
    return -1;
}

int bd_balance_allowed(bd_acc_kind_t kind, int64_t balance)
{
    switch (kind) {
    case BD_ACC_AVAILABLE:
    case BD_ACC_HELD:
    case BD_ACC_PROVIDER:
        return balance >= 0;
    case BD_ACC_ARREARS:
        return balance <= 0;
    default:
        return 1;   /* external accounts: subsidy fund and top-up sources */
    }
}

/* ---- postings --------------------------------------------------------------- */

void bd_postings_init(bd_postings_t *p)
{
    memset(p, 0, sizeof *p);
}

int bd_postings_add(bd_postings_t *p, const char *account, int64_t amount)
{
    if (strlen(account) >= BD_ACCOUNT_LEN)
        return -1;
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->account[i], account) == 0) {
            p->amount[i] += amount;
            if (p->amount[i] == 0) {   /* drop it: postings are never zero */
                p->n--;
                if (i != p->n) {
                    memcpy(p->account[i], p->account[p->n], BD_ACCOUNT_LEN);
                    p->amount[i] = p->amount[p->n];
                }
            }
            return 0;
        }
    }
    if (amount == 0)
        return 0;
    if (p->n == BD_MAX_POSTINGS)
        return -1;
    snprintf(p->account[p->n], BD_ACCOUNT_LEN, "%s", account);
    p->amount[p->n] = amount;
    p->n++;
    return 0;
}

int64_t bd_postings_sum(const bd_postings_t *p)
{
    int64_t s = 0;
    for (int i = 0; i < p->n; i++)
        s += p->amount[i];
    return s;
}

void bd_postings_negate(const bd_postings_t *p, bd_postings_t *out)
{
    *out = *p;
    for (int i = 0; i < out->n; i++)
        out->amount[i] = -out->amount[i];
}

/* ---- ledger ----------------------------------------------------------------- */

bd_ledger_t *bd_ledger_new(void)
{
    bd_ledger_t *self = bd_calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->accounts = cc_map_new();
    self->cards = cc_map_new();
    self->holds = cc_map_new();
    self->usage = cc_map_new();
    if (!self->accounts || !self->cards || !self->holds || !self->usage) {
        bd_ledger_destroy(&self);
        return NULL;
    }
    return self;
}

void bd_ledger_destroy(bd_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bd_ledger_t *self = *self_p;
    cc_map_destroy(&self->accounts, free);
    cc_map_destroy(&self->cards, free);
    cc_map_destroy(&self->holds, free);
    cc_map_destroy(&self->usage, free);
    free(self);
    *self_p = NULL;
}

static bd_account_t *s_account_new(bd_ledger_t *self, const char *name, bd_acc_kind_t kind)
{
    bd_account_t *a = bd_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    snprintf(a->name, sizeof a->name, "%s", name);
    a->kind = kind;
    if (cc_map_put(self->accounts, name, a, NULL) < 0) {
        free(a);
        return NULL;
    }
    return a;
}

bd_card_t *bd_ledger_open_card(bd_ledger_t *self, const char *card_id, uint32_t district_id,
                               const char *household, int age_years)
{
    if (!s_id_ok(card_id))
        return NULL;
    bd_card_t *c = cc_map_get(self->cards, card_id);
    if (c)
        return c;
    c = bd_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->card_id, sizeof c->card_id, "%s", card_id);
    c->district_id = district_id;
    snprintf(c->household, sizeof c->household, "%s", household ? household : "");
    c->age_years = age_years;
    char name[BD_ACCOUNT_LEN];
    snprintf(name, sizeof name, "card:%s:available", card_id);
    c->available = bd_ledger_account(self, name);
    if (!c->available)
        c->available = s_account_new(self, name, BD_ACC_AVAILABLE);
    snprintf(name, sizeof name, "card:%s:held", card_id);
    c->held = bd_ledger_account(self, name);
    if (!c->held && c->available)
        c->held = s_account_new(self, name, BD_ACC_HELD);
    snprintf(name, sizeof name, "card:%s:arrears", card_id);
    c->arrears = bd_ledger_account(self, name);
    if (!c->arrears && c->held)
        c->arrears = s_account_new(self, name, BD_ACC_ARREARS);
    if (!c->arrears || cc_map_put(self->cards, card_id, c, NULL) < 0) {
        /* Accounts made so far stay (zero balance, harmless); the card does not. */
        free(c);
        return NULL;
    }
    return c;
}

bd_card_t *bd_ledger_card(const bd_ledger_t *self, const char *card_id)
{
    return card_id ? cc_map_get(self->cards, card_id) : NULL;
}

size_t bd_ledger_card_count(const bd_ledger_t *self)
{
    return cc_map_size(self->cards);
}

bd_account_t *bd_ledger_account(const bd_ledger_t *self, const char *name)
{
    return cc_map_get(self->accounts, name);
}

bd_account_t *bd_ledger_account_get_or_open(bd_ledger_t *self, const char *name)
{
    bd_account_t *a = cc_map_get(self->accounts, name);
    if (a)
        return a;
    int kind = bd_account_kind(name);
    if (kind < 0 || kind == BD_ACC_AVAILABLE || kind == BD_ACC_HELD || kind == BD_ACC_ARREARS)
        return NULL;
    return s_account_new(self, name, (bd_acc_kind_t)kind);
}

static void s_set_balance(bd_ledger_t *self, bd_account_t *a, int64_t balance)
{
    self->kind_total[a->kind] += balance - a->balance;
    a->balance = balance;
}

int bd_ledger_load_balance(bd_ledger_t *self, const char *name, int64_t balance)
{
    bd_account_t *a = bd_ledger_account_get_or_open(self, name);
    if (!a)
        return -1;
    s_set_balance(self, a, balance);
    return 0;
}

int bd_ledger_check_postings(const bd_ledger_t *self, const bd_postings_t *p)
{
    if (p->n < 0 || p->n > BD_MAX_POSTINGS || bd_postings_sum(p) != 0)
        return -1;
    for (int i = 0; i < p->n; i++) {
        if (p->amount[i] == 0)
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(p->account[i], p->account[j]) == 0)
                return -1;   /* one posting per account per transfer (store's key) */
        const bd_account_t *a = cc_map_get(self->accounts, p->account[i]);
        int kind;
        int64_t balance = 0;
        if (a) {
            kind = a->kind;
            balance = a->balance;
        } else {
            kind = bd_account_kind(p->account[i]);
            if (kind < 0 || kind == BD_ACC_AVAILABLE || kind == BD_ACC_HELD
                || kind == BD_ACC_ARREARS)
                return -1;   /* card accounts exist only for known cards */
        }
        int64_t after;
        if (__builtin_add_overflow(balance, p->amount[i], &after))
            return -1;
        if (!bd_balance_allowed((bd_acc_kind_t)kind, after))
            return -1;
    }
    return 0;
}

int bd_ledger_apply(bd_ledger_t *self, const bd_postings_t *p)
{
    if (bd_ledger_check_postings(self, p) < 0)
        return -1;
    bd_account_t *acc[BD_MAX_POSTINGS];
    for (int i = 0; i < p->n; i++) {
        acc[i] = bd_ledger_account_get_or_open(self, p->account[i]);
        if (!acc[i])
            return -1;   /* OOM opening a provider account: nothing applied yet */
    }
    for (int i = 0; i < p->n; i++)
        s_set_balance(self, acc[i], acc[i]->balance + p->amount[i]);
    return 0;
}

void bd_ledger_revert(bd_ledger_t *self, const bd_postings_t *p)
{
    for (int i = 0; i < p->n; i++) {
        bd_account_t *a = cc_map_get(self->accounts, p->account[i]);
        if (a)
            s_set_balance(self, a, a->balance - p->amount[i]);
    }
}

/* ---- holds and usage -------------------------------------------------------- */

bd_hold_t *bd_ledger_hold(const bd_ledger_t *self, const char *order_id)
{
    return order_id ? cc_map_get(self->holds, order_id) : NULL;
}

int bd_ledger_add_hold(bd_ledger_t *self, const bd_hold_t *h)
{
    if (!s_id_ok(h->order_id) || cc_map_get(self->holds, h->order_id))
        return -1;
    bd_hold_t *copy = bd_malloc(sizeof *copy);
    if (!copy)
        return -1;
    *copy = *h;
    if (cc_map_put(self->holds, h->order_id, copy, NULL) < 0) {
        free(copy);
        return -1;
    }
    return 0;
}

int bd_ledger_remove_hold(bd_ledger_t *self, const char *order_id)
{
    bd_hold_t *h = cc_map_remove(self->holds, order_id);
    if (!h)
        return -1;
    free(h);
    return 0;
}

size_t bd_ledger_hold_count(const bd_ledger_t *self)
{
    return cc_map_size(self->holds);
}

static void s_usage_key(char *buf, size_t len, const char *card_id, int rule_id, int month)
{
    snprintf(buf, len, "%s|%d|%d", card_id, rule_id, month);
}

int64_t bd_ledger_usage(const bd_ledger_t *self, const char *card_id, int rule_id, int month)
{
    char key[96];
    s_usage_key(key, sizeof key, card_id, rule_id, month);
    const int64_t *v = cc_map_get(self->usage, key);
    return v ? *v : 0;
}

int bd_ledger_usage_add(bd_ledger_t *self, const char *card_id, int rule_id, int month,
                        int64_t delta)
{
    char key[96];
    s_usage_key(key, sizeof key, card_id, rule_id, month);
    int64_t *v = cc_map_get(self->usage, key);
    if (!v) {
        v = bd_calloc(1, sizeof *v);
        if (!v || cc_map_put(self->usage, key, v, NULL) < 0) {
            free(v);
            return -1;
        }
    }
    *v += delta;
    return 0;
}

/* ---- decisions -------------------------------------------------------------- */

typedef struct {
    const bd_ledger_t *ledger;
    const char *card_id;
    int month;
} s_usage_ctx_t;

static int64_t s_usage_of(void *arg, int rule_id)
{
    s_usage_ctx_t *u = arg;
    return bd_ledger_usage(u->ledger, u->card_id, rule_id, u->month);
}

static void s_deny(bd_hold_decision_t *out, const char *reason)
{
    out->held = 0;
    out->reason = reason;
}

/* An order without a card: only an emergency or a mandated order, and the
 * fund pays all of it (no rule, no cap: nobody's card to count it on). The
 * hold is on no card and moves no money; its capture posts subsidy_fund ->
 * provider (bd_ledger_decide_capture). An emergency without a price is
 * held at 0, as with a card. */
static int s_decide_cardless(const bd_order_t *order, int priced, int month,
                             bd_hold_decision_t *out)
{
    if (!order->emergency && !order->mandated) {
        s_deny(out, "no_card");
        return 0;
    }
    if (!priced && !order->emergency) {
        s_deny(out, "no_price");
        return 0;
    }
    if (!priced)
        memset(&out->quote, 0, sizeof out->quote);
    out->quote.subsidy_fen = out->quote.price_fen;
    out->quote.card_fen = 0;
    out->quote.rule_id = 0;
    out->held = 1;
    out->reason = NULL;
    bd_hold_t *h = &out->hold;
    snprintf(h->order_id, sizeof h->order_id, "%s", order->order_id ? order->order_id : "");
    h->card_id[0] = '\0';
    h->service = order->service;
    h->emergency = order->emergency ? 1 : 0;
    h->district_id = order->district_id;
    h->price_fen = out->quote.price_fen;
    h->subsidy_fen = out->quote.price_fen;
    h->month = month;
    bd_postings_init(&out->postings);
    return 0;
}

int bd_ledger_decide_hold(const bd_ledger_t *self, const bd_pricing_t *pricing,
                          const bd_order_t *order, bd_hold_decision_t *out)
{
    memset(out, 0, sizeof *out);
    const bd_card_t *card = bd_ledger_card(self, order->card_id);
    int month = bd_month_of(order->placed_us);
    /* The order carries the elder's current facts; the card's are the
     * fallback (older producers may leave them empty). */
    bd_facts_t facts = {
        .service = order->service,
        .district_id = order->district_id,
        .household = order->household && order->household[0] ? order->household
                     : card ? card->household : "",
        .age_years = order->age_years > 0 ? order->age_years : card ? card->age_years : 0,
    };
    s_usage_ctx_t uctx = { self, order->card_id, month };
    int priced = bd_pricing_quote(pricing, &facts, &s_usage_of, &uctx, &out->quote) == 0;
    if (!order->card_id || !order->card_id[0])
        return s_decide_cardless(order, priced, month, out);
    if (!card) {
        s_deny(out, "unknown_card");
        return 0;
    }
    out->available_fen = card->available->balance;
    if (!priced && !order->emergency) {
        s_deny(out, "no_price");
        return 0;
    }
    if (order->mandated) {
        /* Mandated visits and assessments are free to the elder (the plans'
         * "service finds the person"): the fund pays all, no cap applies. */
        out->quote.subsidy_fen = out->quote.price_fen;
        out->quote.card_fen = 0;
        out->quote.rule_id = 0;
    }
    if (card->status != BD_CARD_ACTIVE && !order->emergency) {
        s_deny(out, "card_blocked");
        return 0;
    }
    int64_t need = out->quote.card_fen;
    int64_t avail = card->available->balance;
    int64_t from_available = need, arrears = 0;
    if (avail < need) {
        if (!order->emergency) {
            s_deny(out, "insufficient_funds");
            return 0;
        }
        /* Emergencies are never refused for money (DESIGN.md §5). */
        from_available = avail;
        arrears = need - avail;
    }
    out->held = 1;
    out->reason = NULL;
    bd_hold_t *h = &out->hold;
    snprintf(h->order_id, sizeof h->order_id, "%s", order->order_id ? order->order_id : "");
    snprintf(h->card_id, sizeof h->card_id, "%s", card->card_id);
    h->service = order->service;
    h->emergency = order->emergency ? 1 : 0;
    h->district_id = order->district_id;
    h->price_fen = out->quote.price_fen;
    h->subsidy_fen = out->quote.subsidy_fen;
    h->held_fen = need;
    h->arrears_fen = arrears;
    h->rule_id = out->quote.rule_id;
    h->month = month;
    bd_postings_init(&out->postings);
    bd_postings_add(&out->postings, card->available->name, -from_available);
    bd_postings_add(&out->postings, card->held->name, need);
    bd_postings_add(&out->postings, card->arrears->name, -arrears);
    return 0;
}

int bd_ledger_commit_hold(bd_ledger_t *self, const bd_hold_decision_t *d)
{
    if (!d->held)
        return 0;
    if (bd_ledger_hold(self, d->hold.order_id))
        return -1;
    if (bd_ledger_apply(self, &d->postings) < 0)
        return -1;
    if (bd_ledger_add_hold(self, &d->hold) < 0) {
        bd_ledger_revert(self, &d->postings);
        return -1;
    }
    if (d->hold.rule_id && d->hold.subsidy_fen > 0
        && bd_ledger_usage_add(self, d->hold.card_id, d->hold.rule_id, d->hold.month,
                               d->hold.subsidy_fen) < 0) {
        bd_ledger_remove_hold(self, d->hold.order_id);
        bd_ledger_revert(self, &d->postings);
        return -1;
    }
    return 0;
}

void bd_ledger_uncommit_hold(bd_ledger_t *self, const bd_hold_decision_t *d)
{
    if (!d->held)
        return;
    bd_ledger_revert(self, &d->postings);
    bd_ledger_remove_hold(self, d->hold.order_id);
    if (d->hold.rule_id && d->hold.subsidy_fen > 0)
        bd_ledger_usage_add(self, d->hold.card_id, d->hold.rule_id, d->hold.month,
                            -d->hold.subsidy_fen);
}

int bd_ledger_decide_capture(const bd_ledger_t *self, const char *order_id,
                             const char *provider_id, bd_close_decision_t *out)
{
    memset(out, 0, sizeof *out);
    const bd_hold_t *h = bd_ledger_hold(self, order_id);
    const bd_card_t *card = h ? bd_ledger_card(self, h->card_id) : NULL;
    if (!card && !(h && !h->card_id[0]))   /* a card-less hold has no card */
        return -1;
    if (!provider_id || !provider_id[0])
        provider_id = "unknown";
    if (strlen(provider_id) >= BD_PROVIDER_LEN)
        return -1;
    out->hold = *h;
    out->capture = 1;
    snprintf(out->provider_id, sizeof out->provider_id, "%s", provider_id);
    out->charged_fen = h->held_fen;
    char provider[BD_ACCOUNT_LEN];
    snprintf(provider, sizeof provider, "provider:%s", provider_id);
    bd_postings_init(&out->postings);
    if (card)
        bd_postings_add(&out->postings, card->held->name, -h->held_fen);
    bd_postings_add(&out->postings, "subsidy_fund", -h->subsidy_fen);
    bd_postings_add(&out->postings, provider, h->held_fen + h->subsidy_fen);
    return 0;
}

int bd_ledger_decide_release(const bd_ledger_t *self, const char *order_id,
                             bd_close_decision_t *out)
{
    memset(out, 0, sizeof *out);
    const bd_hold_t *h = bd_ledger_hold(self, order_id);
    const bd_card_t *card = h ? bd_ledger_card(self, h->card_id) : NULL;
    if (h && !h->card_id[0]) {
        /* Card-less: nothing was held, nothing goes back. */
        out->hold = *h;
        out->capture = 0;
        bd_postings_init(&out->postings);
        return 0;
    }
    if (!card)
        return -1;
    out->hold = *h;
    out->capture = 0;
    out->released_fen = h->held_fen;
    /* Money coming back to a card in debt pays the debt first: this reverses
     * an emergency's own arrears, and keeps "available > 0 => no arrears". */
    int64_t debt = -card->arrears->balance;
    int64_t paid = h->held_fen < debt ? h->held_fen : debt;
    out->arrears_paid_fen = paid;
    bd_postings_init(&out->postings);
    bd_postings_add(&out->postings, card->held->name, -h->held_fen);
    bd_postings_add(&out->postings, card->arrears->name, paid);
    bd_postings_add(&out->postings, card->available->name, h->held_fen - paid);
    return 0;
}

int bd_ledger_commit_close(bd_ledger_t *self, const bd_close_decision_t *d)
{
    if (!bd_ledger_hold(self, d->hold.order_id))
        return -1;
    if (bd_ledger_apply(self, &d->postings) < 0)
        return -1;
    bd_ledger_remove_hold(self, d->hold.order_id);
    if (!d->capture && d->hold.rule_id && d->hold.subsidy_fen > 0)
        bd_ledger_usage_add(self, d->hold.card_id, d->hold.rule_id, d->hold.month,
                            -d->hold.subsidy_fen);
    return 0;
}

void bd_ledger_uncommit_close(bd_ledger_t *self, const bd_close_decision_t *d)
{
    bd_ledger_revert(self, &d->postings);
    bd_ledger_add_hold(self, &d->hold);
    if (!d->capture && d->hold.rule_id && d->hold.subsidy_fen > 0)
        bd_ledger_usage_add(self, d->hold.card_id, d->hold.rule_id, d->hold.month,
                            d->hold.subsidy_fen);
}

int bd_ledger_decide_topup(const bd_ledger_t *self, const char *card_id, int64_t amount_fen,
                           bd_source_t source, bd_topup_decision_t *out)
{
    memset(out, 0, sizeof *out);
    const bd_card_t *card = bd_ledger_card(self, card_id);
    if (!card || card->status == BD_CARD_CLOSED || amount_fen <= 0
        || (unsigned)source >= BD_SRC_COUNT)
        return -1;
    int64_t debt = -card->arrears->balance;
    int64_t paid = amount_fen < debt ? amount_fen : debt;
    int64_t after;
    /* The bound first keeps every sum of balances far from int64's edge. */
    if (cc_add_i64(card->available->balance, amount_fen - paid, &after) != 0
        || after > CC_FEN_BALANCE_MAX)
        return -1;
    out->amount_fen = amount_fen;
    out->source = source;
    out->arrears_paid_fen = paid;
    out->available_after_fen = after;
    char src[BD_ACCOUNT_LEN];
    snprintf(src, sizeof src, "source:%s", bd_source_name(source));
    bd_postings_init(&out->postings);
    bd_postings_add(&out->postings, src, -amount_fen);
    bd_postings_add(&out->postings, card->arrears->name, paid);
    bd_postings_add(&out->postings, card->available->name, amount_fen - paid);
    return 0;
}

/* ---- reporting -------------------------------------------------------------- */

void bd_ledger_totals(const bd_ledger_t *self, bd_totals_t *out)
{
    const int64_t *t = self->kind_total;
    out->available_fen = t[BD_ACC_AVAILABLE];
    out->held_fen = t[BD_ACC_HELD];
    out->arrears_fen = -t[BD_ACC_ARREARS];
    out->payable_fen = t[BD_ACC_PROVIDER];
    out->subsidy_spent_fen = -t[BD_ACC_SUBSIDY_FUND];
    out->topped_up_fen = -(t[BD_ACC_SOURCE_FAMILY] + t[BD_ACC_SOURCE_SUBSIDY]
                           + t[BD_ACC_SOURCE_ALLOWANCE]);
}

typedef struct {
    bd_account_fn *fn;
    void *arg;
} s_each_t;

static int s_each_account(const char *key, void *value, void *arg)
{
    (void)key;
    s_each_t *e = arg;
    e->fn(value, e->arg);
    return 0;
}

void bd_ledger_foreach_account(const bd_ledger_t *self, bd_account_fn *fn, void *arg)
{
    s_each_t e = { fn, arg };
    cc_map_each(self->accounts, &s_each_account, &e);
}
