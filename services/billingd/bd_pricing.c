/* bd_pricing: see bd_pricing.h. */
#include "bd_pricing.h"
#include "cc_util.h"
#include "cc_daemon.h"
#include "bd_alloc.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>


struct bd_pricing {
    int64_t price[BD_SERVICE_MAX + 1];   /* fen; -1: no price */
    bd_rule_t *rules;                    /* sorted by rule_id */
    size_t nrules;
    size_t caprules;
};

const char *bd_service_name(int service)
{
    return cc_service_name(service);
}

int bd_service_parse(const char *name)
{
    if (!name)
        return 0;
    for (int i = 1; i <= BD_SERVICE_MAX; i++)
        if (strcmp(name, cc_service_names[i - 1]) == 0)
            return i;
    return 0;
}

bd_pricing_t *bd_pricing_new(void)
{
    bd_pricing_t *self = bd_calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (int i = 0; i <= BD_SERVICE_MAX; i++)
        self->price[i] = -1;
    return self;
}

void bd_pricing_destroy(bd_pricing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->rules);
    free(*self_p);
    *self_p = NULL;
}

int bd_pricing_set_price(bd_pricing_t *self, int service, int64_t price_fen)
{
    if (service < 1 || service > BD_SERVICE_MAX || price_fen < 0 || price_fen > BD_PRICE_MAX_FEN)
        return -1;
    self->price[service] = price_fen;
    return 0;
}

int64_t bd_pricing_price(const bd_pricing_t *self, int service)
{
    if (service < 1 || service > BD_SERVICE_MAX)
        return -1;
    return self->price[service];
}

int bd_pricing_add_rule(bd_pricing_t *self, const bd_rule_t *rule)
{
    int share = rule->share_bp >= 0, fixed = rule->fixed_fen >= 0;
    if (share == fixed || rule->share_bp > 10000 || rule->service < 0
        || rule->service > BD_SERVICE_MAX
        || (rule->age_min >= 0 && rule->age_max >= 0 && rule->age_min > rule->age_max))
        return -1;
    if (self->nrules == self->caprules) {
        size_t ncap = self->caprules ? self->caprules * 2 : 8;
        bd_rule_t *r = bd_realloc(self->rules, ncap * sizeof *r);
        if (!r)
            return -1;
        self->rules = r;
        self->caprules = ncap;
    }
    size_t i = self->nrules;
    while (i > 0 && self->rules[i - 1].rule_id > rule->rule_id) {
        self->rules[i] = self->rules[i - 1];
        i--;
    }
    self->rules[i] = *rule;
    self->rules[i].household[sizeof self->rules[i].household - 1] = '\0';
    self->nrules++;
    return 0;
}

void bd_pricing_clear_rules(bd_pricing_t *self)
{
    self->nrules = 0;
}

size_t bd_pricing_rule_count(const bd_pricing_t *self)
{
    return self->nrules;
}

const bd_rule_t *bd_pricing_rule(const bd_pricing_t *self, size_t i)
{
    return i < self->nrules ? &self->rules[i] : NULL;
}

int bd_rule_matches(const bd_rule_t *rule, const bd_facts_t *facts)
{
    if (rule->district_id >= 0 && (uint32_t)rule->district_id != facts->district_id)
        return 0;
    if (rule->household[0]
        && (!facts->household || strcmp(rule->household, facts->household) != 0))
        return 0;
    if (rule->age_min >= 0 && facts->age_years < rule->age_min)
        return 0;
    if (rule->age_max >= 0 && facts->age_years > rule->age_max)
        return 0;
    if (rule->service && rule->service != facts->service)
        return 0;
    return 1;
}

int64_t bd_rule_amount(const bd_rule_t *rule, int64_t price_fen)
{
    if (price_fen <= 0)
        return 0;
    if (rule->share_bp >= 0)
        return price_fen * rule->share_bp / 10000;   /* <= 1e8 * 1e4: no overflow */
    return rule->fixed_fen < price_fen ? rule->fixed_fen : price_fen;
}

int bd_pricing_quote(const bd_pricing_t *self, const bd_facts_t *facts, bd_usage_fn *usage_fn,
                     void *usage_arg, bd_quote_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t price = bd_pricing_price(self, facts->service);
    if (price < 0)
        return -1;
    int64_t best = 0;
    int best_rule = 0;
    for (size_t i = 0; i < self->nrules; i++) {
        const bd_rule_t *r = &self->rules[i];
        if (!bd_rule_matches(r, facts))
            continue;
        int64_t amount = bd_rule_amount(r, price);
        if (r->monthly_cap_fen >= 0) {
            int64_t used = usage_fn ? usage_fn(usage_arg, r->rule_id) : 0;
            int64_t left = r->monthly_cap_fen - used;
            if (left < 0)
                left = 0;
            if (amount > left)
                amount = left;
        }
        /* Rules are sorted by id, so ">" keeps the lowest id on ties. */
        if (amount > best) {
            best = amount;
            best_rule = r->rule_id;
        }
    }
    out->price_fen = price;
    out->subsidy_fen = best;
    out->card_fen = price - best;
    out->rule_id = best_rule;
    return 0;
}

int bd_month_of(int64_t us)
{
    /* Floor division: times before 1970 are not expected, but stay correct. */
    int64_t s = us >= 0 ? us / CC_US_PER_S : -((-us + CC_US_PER_S - 1) / CC_US_PER_S);
    time_t t = (time_t)(s + CC_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}
