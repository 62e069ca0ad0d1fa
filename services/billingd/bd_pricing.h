/* bd_pricing: list prices per service and the subsidy rules, and the quote
 * for one order: list price, subsidy part (charged to the subsidy fund) and
 * card part. Pure: no I/O; monthly-cap usage comes in through a callback.
 *
 * Rule semantics (also documented in sql/billingd/001_ledger.sql): a rule
 * matches when each set condition matches (district, household, age band
 * inclusive, service); it covers share_bp/10000 of the price, rounded down,
 * or fixed_fen capped at the price; a monthly cap per card and rule limits
 * it to what is left this month. Rules do not stack: the largest subsidy
 * wins, ties go to the lowest rule_id. */
#ifndef BD_PRICING_H
#define BD_PRICING_H
#include "cc_daemon.h"
#include "cc_limits.h"
#include <stddef.h>
#include <stdint.h>

/* Services are the proto enum values (Cc__Service): 1 meal .. 8 assessment. */
#define BD_SERVICE_MAX CC_SERVICE_MAX   /* cc_daemon.h: the one list */
#define BD_PRICE_MAX_FEN CC_FEN_PRICE_MAX   /* cc_limits.h: 1,000,000 CNY, rejects typos */

/* "meal", ..., NULL if out of range. */
const char *bd_service_name(int service);
/* 1..8, or 0 if unknown. */
int bd_service_parse(const char *name);

typedef struct {
    int rule_id;
    int64_t district_id;     /* -1: every district */
    char household[16];      /* "": any household */
    int age_min;             /* -1: open */
    int age_max;             /* -1: open */
    int service;             /* 0: every service */
    int share_bp;            /* 0..10000, or -1 when fixed_fen is used */
    int64_t fixed_fen;       /* >= 0, or -1 when share_bp is used */
    int64_t monthly_cap_fen; /* -1: no cap */
} bd_rule_t;

/* What the rules look at, from OrderPlaced. household is borrowed. */
typedef struct {
    int service;
    uint32_t district_id;
    const char *household;
    int age_years;
} bd_facts_t;

typedef struct {
    int64_t price_fen;       /* list price */
    int64_t subsidy_fen;     /* charged to the subsidy fund */
    int64_t card_fen;        /* charged to the card: price - subsidy */
    int rule_id;             /* rule applied, 0 if none */
} bd_quote_t;

/* Subsidy already used this month on the card under rule_id. */
typedef int64_t (bd_usage_fn)(void *arg, int rule_id);

typedef struct bd_pricing bd_pricing_t;

bd_pricing_t *bd_pricing_new(void);
void bd_pricing_destroy(bd_pricing_t **self_p);

/* 0, or -1 if service or price is out of range. */
int bd_pricing_set_price(bd_pricing_t *self, int service, int64_t price_fen);
/* Price in fen, or -1 if the service has none. */
int64_t bd_pricing_price(const bd_pricing_t *self, int service);

/* Adds a copy; -1 if the rule is malformed (both or neither of share_bp and
 * fixed_fen, share out of range, age band inverted, bad service) or on OOM. */
int bd_pricing_add_rule(bd_pricing_t *self, const bd_rule_t *rule);
void bd_pricing_clear_rules(bd_pricing_t *self);
size_t bd_pricing_rule_count(const bd_pricing_t *self);
const bd_rule_t *bd_pricing_rule(const bd_pricing_t *self, size_t i);

/* 1 if rule applies to facts. */
int bd_rule_matches(const bd_rule_t *rule, const bd_facts_t *facts);
/* Subsidy of rule on price before the monthly cap. */
int64_t bd_rule_amount(const bd_rule_t *rule, int64_t price_fen);

/* Quote for facts; usage_fn may be NULL (nothing used yet). Returns 0, or -1
 * when the service has no price (*out zeroed). */
int bd_pricing_quote(const bd_pricing_t *self, const bd_facts_t *facts, bd_usage_fn *usage_fn,
                     void *usage_arg, bd_quote_t *out);

/* Month YYYYMM of us in Asia/Shanghai (UTC+8), the subsidy-cap period. */
int bd_month_of(int64_t us);

#endif
