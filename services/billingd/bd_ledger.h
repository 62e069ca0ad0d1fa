/* bd_ledger: billingd's in-memory working set and the money rules.
 *
 * Double entry: every change is a set of postings (account, signed fen) that
 * sums to zero; an account's balance is the sum of its postings. Accounts
 * (names are the same text as in sql/billingd/001_ledger.sql):
 *   card:<id>:available  >= 0   money on the card
 *   card:<id>:held       >= 0   held for open orders
 *   card:<id>:arrears    <= 0   emergency debt (a debit; shown positive in the API)
 *   provider:<id>        >= 0   payable to a provider
 *   subsidy_fund, source:family|subsidy|allowance: external, any sign
 *
 * Rules implemented here (pure, no I/O; the daemon decides with these and
 * the store applies exactly the decided postings):
 *   hold     card part = price - subsidy; available -> held. Not enough
 *            available: denied insufficient_funds, except emergencies: hold
 *            what is available and book the shortfall as arrears (an
 *            emergency without a price is held at 0, never refused).
 *            Mandated orders are free to the elder: the subsidy fund pays
 *            the whole price, outside any rule's monthly cap.
 *            An order without a card (card_id ""): an emergency or a
 *            mandated one is held on no card, the fund paying the whole
 *            price (no postings at hold; capture posts subsidy_fund ->
 *            provider, release nothing); any other is denied no_card.
 *   capture  held -> provider; the subsidy part subsidy_fund -> provider.
 *   release  held -> back to the card; money coming back to a card in debt
 *            pays the debt first (so an emergency's arrears are reversed).
 *   top-up   source -> card, paying arrears first.
 * Invariant kept by these rules: available > 0 implies arrears == 0.
 *
 * The daemon applies a decision to memory when it queues the SQL (so that
 * the next decision in the same batch sees it) and reverts it if the store
 * reports it was not applied (a replay). */
#ifndef BD_LEDGER_H
#define BD_LEDGER_H
#include <stddef.h>
#include <stdint.h>
#include "bd_pricing.h"
#include "cc_event.h"

#define BD_ID_LEN 37            /* UUID text + NUL */
#define BD_PROVIDER_LEN (CC_PROVIDER_ID_MAX + 1)   /* provider id text + NUL */
#define BD_ACCOUNT_LEN 96
#define BD_MAX_POSTINGS 4

typedef enum {
    BD_ACC_AVAILABLE = 0,
    BD_ACC_HELD,
    BD_ACC_ARREARS,
    BD_ACC_SUBSIDY_FUND,
    BD_ACC_PROVIDER,
    BD_ACC_SOURCE_FAMILY,
    BD_ACC_SOURCE_SUBSIDY,
    BD_ACC_SOURCE_ALLOWANCE,
    BD_ACC_KINDS
} bd_acc_kind_t;

typedef struct {
    char name[BD_ACCOUNT_LEN];
    bd_acc_kind_t kind;
    int64_t balance;
} bd_account_t;

typedef enum { BD_CARD_ACTIVE = 0, BD_CARD_BLOCKED, BD_CARD_CLOSED } bd_card_status_t;

typedef struct {
    char card_id[BD_ID_LEN];
    char elder_id[BD_ID_LEN];  /* whose card: a family account's scope ("" unknown) */
    bd_card_status_t status;
    uint32_t district_id;
    char household[16];
    int age_years;
    bd_account_t *available;   /* owned by the ledger's account index */
    bd_account_t *held;
    bd_account_t *arrears;
} bd_card_t;

typedef enum {
    BD_HOLD_HELD = 0,
    BD_HOLD_CAPTURED,
    BD_HOLD_RELEASED,
    BD_HOLD_DENIED
} bd_hold_state_t;

/* An open hold (state held); closed ones live only in the store. */
typedef struct {
    char order_id[BD_ID_LEN];
    char card_id[BD_ID_LEN];
    int service;
    int emergency;
    uint32_t district_id;
    int64_t price_fen;
    int64_t subsidy_fen;
    int64_t held_fen;          /* card part, held (includes arrears_fen) */
    int64_t arrears_fen;       /* part of held_fen booked as debt */
    int rule_id;               /* subsidy rule, 0 none */
    int month;                 /* YYYYMM the subsidy counts in */
} bd_hold_t;

typedef struct {
    int n;
    char account[BD_MAX_POSTINGS][BD_ACCOUNT_LEN];
    int64_t amount[BD_MAX_POSTINGS];
} bd_postings_t;

typedef enum { BD_SRC_FAMILY = 0, BD_SRC_SUBSIDY, BD_SRC_ALLOWANCE, BD_SRC_COUNT } bd_source_t;

typedef struct bd_ledger bd_ledger_t;

/* ---- names --------------------------------------------------------------- */
const char *bd_card_status_name(bd_card_status_t s);
/* -1 if unknown. */
int bd_card_status_parse(const char *s);
const char *bd_source_name(bd_source_t s);
int bd_source_parse(const char *s);              /* -1 if unknown */
const char *bd_hold_state_name(bd_hold_state_t s);
/* Kind of an account name, or -1 if the name is not a ledger account. */
int bd_account_kind(const char *name);
/* 1 if kind may hold balance (>= 0 for most, <= 0 for arrears). */
int bd_balance_allowed(bd_acc_kind_t kind, int64_t balance);

/* ---- postings ------------------------------------------------------------ */
void bd_postings_init(bd_postings_t *p);
/* Adds amount to account (merging with an earlier posting to the same
 * account; zero amounts are not stored). -1 if full or the name too long. */
int bd_postings_add(bd_postings_t *p, const char *account, int64_t amount);
int64_t bd_postings_sum(const bd_postings_t *p);
/* The inverse transfer. */
void bd_postings_negate(const bd_postings_t *p, bd_postings_t *out);

/* ---- the ledger ---------------------------------------------------------- */
bd_ledger_t *bd_ledger_new(void);
void bd_ledger_destroy(bd_ledger_t **self_p);

/* Open a card and its three accounts (zero balances). Existing card: updates
 * nothing and returns it. NULL on OOM or an invalid id. */
bd_card_t *bd_ledger_open_card(bd_ledger_t *self, const char *card_id, uint32_t district_id,
                               const char *household, int age_years);
bd_card_t *bd_ledger_card(const bd_ledger_t *self, const char *card_id);
size_t bd_ledger_card_count(const bd_ledger_t *self);

bd_account_t *bd_ledger_account(const bd_ledger_t *self, const char *name);
/* Account by name, created (balance 0) for non-card kinds; card accounts
 * exist only through bd_ledger_open_card. NULL if not possible. */
bd_account_t *bd_ledger_account_get_or_open(bd_ledger_t *self, const char *name);
/* Set a loaded balance (start-up). -1 if the account cannot exist. */
int bd_ledger_load_balance(bd_ledger_t *self, const char *name, int64_t balance);

/* Balanced, every account known or openable, no balance of the wrong sign
 * afterwards. 0 ok, -1 not. */
int bd_ledger_check_postings(const bd_ledger_t *self, const bd_postings_t *p);
/* Check, then apply. -1 and nothing changed when the check fails. */
int bd_ledger_apply(bd_ledger_t *self, const bd_postings_t *p);
/* Undo an earlier bd_ledger_apply of p (no sign checks: it restores). */
void bd_ledger_revert(bd_ledger_t *self, const bd_postings_t *p);

/* Open holds by order id. */
bd_hold_t *bd_ledger_hold(const bd_ledger_t *self, const char *order_id);
/* Copies h in as an open hold; -1 on OOM or if one exists. */
int bd_ledger_add_hold(bd_ledger_t *self, const bd_hold_t *h);
/* Removes the open hold; -1 if none. */
int bd_ledger_remove_hold(bd_ledger_t *self, const char *order_id);
size_t bd_ledger_hold_count(const bd_ledger_t *self);

/* Subsidy used per card, rule and month (monthly caps). */
int64_t bd_ledger_usage(const bd_ledger_t *self, const char *card_id, int rule_id, int month);
int bd_ledger_usage_add(bd_ledger_t *self, const char *card_id, int rule_id, int month,
                        int64_t delta);

/* ---- decisions ----------------------------------------------------------- */
typedef struct {
    const char *order_id;
    const char *card_id;
    int service;
    int emergency;
    int mandated;              /* generated by orderd (care visit, assessment) */
    uint32_t district_id;
    const char *household;
    int age_years;
    int64_t placed_us;         /* decides the subsidy month */
} bd_order_t;

typedef struct {
    int held;                  /* 1 held, 0 denied */
    const char *reason;        /* denied: insufficient_funds|unknown_card|card_blocked|no_price|no_card */
    bd_quote_t quote;
    int64_t available_fen;     /* card's available before the decision */
    bd_hold_t hold;            /* when held */
    bd_postings_t postings;    /* when held */
} bd_hold_decision_t;

/* Decide an OrderPlaced; changes nothing. Always returns 0. */
int bd_ledger_decide_hold(const bd_ledger_t *self, const bd_pricing_t *pricing,
                          const bd_order_t *order, bd_hold_decision_t *out);
/* Apply a held decision to memory (postings, open hold, subsidy usage).
 * -1 (nothing changed) if it no longer fits. Denied decisions: no-op, 0. */
int bd_ledger_commit_hold(bd_ledger_t *self, const bd_hold_decision_t *d);
void bd_ledger_uncommit_hold(bd_ledger_t *self, const bd_hold_decision_t *d);

typedef struct {
    bd_hold_t hold;            /* the open hold being closed */
    int capture;               /* 1 capture, 0 release */
    char provider_id[BD_PROVIDER_LEN];
    int64_t charged_fen;       /* capture: card part paid to the provider */
    int64_t released_fen;      /* release: card part given back */
    int64_t arrears_paid_fen;  /* release: of which paid down debt */
    bd_postings_t postings;
} bd_close_decision_t;

/* Capture or release the open hold of order_id. -1 if there is none (or the
 * provider id is too long). provider_id may be NULL or "" ("unknown"). */
int bd_ledger_decide_capture(const bd_ledger_t *self, const char *order_id,
                             const char *provider_id, bd_close_decision_t *out);
int bd_ledger_decide_release(const bd_ledger_t *self, const char *order_id,
                             bd_close_decision_t *out);
int bd_ledger_commit_close(bd_ledger_t *self, const bd_close_decision_t *d);
void bd_ledger_uncommit_close(bd_ledger_t *self, const bd_close_decision_t *d);

typedef struct {
    int64_t amount_fen;
    bd_source_t source;
    int64_t arrears_paid_fen;
    int64_t available_after_fen;
    bd_postings_t postings;
} bd_topup_decision_t;

/* -1 if the card is unknown or closed, amount <= 0, or the card's available
 * balance would pass CC_FEN_BALANCE_MAX (cc_limits.h). */
int bd_ledger_decide_topup(const bd_ledger_t *self, const char *card_id, int64_t amount_fen,
                           bd_source_t source, bd_topup_decision_t *out);

/* ---- reporting ----------------------------------------------------------- */
typedef struct {
    int64_t available_fen;     /* all cards */
    int64_t held_fen;
    int64_t arrears_fen;       /* positive: debt */
    int64_t payable_fen;       /* to providers */
    int64_t subsidy_spent_fen; /* -subsidy_fund */
    int64_t topped_up_fen;     /* -(sum of sources) */
} bd_totals_t;
void bd_ledger_totals(const bd_ledger_t *self, bd_totals_t *out);

typedef void (bd_account_fn)(const bd_account_t *acc, void *arg);
void bd_ledger_foreach_account(const bd_ledger_t *self, bd_account_fn *fn, void *arg);

#endif
