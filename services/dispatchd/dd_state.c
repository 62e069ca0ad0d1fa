/* dd_state: see dd_state.h. */
#include "dd_state.h"
#include "cc_map.h"

#include <stdlib.h>
#include <string.h>

struct dd_world {
    cc_map_t *cg_by_id;          /* caregiver id -> caregiver (owned here) */
    cc_map_t *cg_by_key;         /* idempotency key -> caregiver (borrowed) */
    dd_caregiver_t **cgs;        /* every caregiver, for matching */
    size_t ncgs, capcgs;
    cc_map_t *v_by_id;           /* visit id -> visit (owned here) */
    cc_map_t *v_by_order;        /* order id -> visit (borrowed) */
    dd_visit_t **active;         /* visits not final; v->active_ix is the index */
    size_t nactive, capactive;
    uint64_t generation;         /* bumped when a visit is freed */
    dd_zones_t *zones;           /* providers' districts (dd_rules.h); caregivers point in */
};

dd_world_t *dd_world_new(void)
{
    dd_world_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cg_by_id = cc_map_new();
    self->cg_by_key = cc_map_new();
    self->v_by_id = cc_map_new();
    self->v_by_order = cc_map_new();
    self->zones = dd_zones_new();
    if (!self->cg_by_id || !self->cg_by_key || !self->v_by_id || !self->v_by_order
        || !self->zones) {
        dd_world_destroy(&self);
        return NULL;
    }
    return self;
}

void dd_world_destroy(dd_world_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dd_world_t *self = *self_p;
    if (self->v_by_id) {
        size_t pos = 0;
        dd_visit_t *v;
        while ((v = cc_map_next(self->v_by_id, &pos)))
            dd_visit_free(&v);
    }
    for (size_t i = 0; i < self->ncgs; i++)
        dd_caregiver_free(&self->cgs[i]);
    free(self->cgs);
    free(self->active);
    cc_map_destroy(&self->cg_by_id, NULL);
    cc_map_destroy(&self->cg_by_key, NULL);
    cc_map_destroy(&self->v_by_id, NULL);
    cc_map_destroy(&self->v_by_order, NULL);
    dd_zones_free(&self->zones);   /* after the caregivers that point in */
    free(self);
    *self_p = NULL;
}

dd_zones_t *dd_world_zones(const dd_world_t *self)
{
    return self->zones;
}

dd_caregiver_t *dd_caregiver_new(void)
{
    return calloc(1, sizeof(dd_caregiver_t));
}

void dd_caregiver_free(dd_caregiver_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    free((*c_p)->name);
    free((*c_p)->plan);
    dd_rules_free(*c_p);
    free(*c_p);
    *c_p = NULL;
}

dd_visit_t *dd_visit_new(void)
{
    return calloc(1, sizeof(dd_visit_t));
}

void dd_visit_free(dd_visit_t **v_p)
{
    if (!v_p || !*v_p)
        return;
    free((*v_p)->notes);
    free((*v_p)->address_sealed);
    free((*v_p)->declined);
    free(*v_p);
    *v_p = NULL;
}

int dd_world_add_caregiver(dd_world_t *self, dd_caregiver_t **c_p)
{
    dd_caregiver_t *c = *c_p;
    if (cc_map_get(self->cg_by_id, c->id))
        return -1;
    if (c->idem_key[0] && cc_map_get(self->cg_by_key, c->idem_key))
        return -1;
    if (cc_grow(&self->cgs, &self->capcgs, self->ncgs + 1, sizeof *self->cgs, 16) != 0)
        return -1;
    if (cc_map_put(self->cg_by_id, c->id, c, NULL) != 0)
        return -1;
    if (c->idem_key[0] && cc_map_put(self->cg_by_key, c->idem_key, c, NULL) != 0) {
        cc_map_remove(self->cg_by_id, c->id);
        return -1;
    }
    self->cgs[self->ncgs++] = c;
    *c_p = NULL;
    return 0;
}

dd_caregiver_t *dd_world_caregiver(const dd_world_t *self, const char *id)
{
    return cc_map_get(self->cg_by_id, id);
}

dd_caregiver_t *dd_world_caregiver_by_key(const dd_world_t *self, const char *idem_key)
{
    return cc_map_get(self->cg_by_key, idem_key);
}

dd_caregiver_t *const *dd_world_caregivers(const dd_world_t *self, size_t *n)
{
    *n = self->ncgs;
    return self->cgs;
}

static int s_active_add(dd_world_t *self, dd_visit_t *v)
{
    if (cc_grow(&self->active, &self->capactive, self->nactive + 1, sizeof *self->active,
                64) != 0)
        return -1;
    v->active_ix = self->nactive;
    self->active[self->nactive++] = v;
    return 0;
}

static void s_active_remove(dd_world_t *self, dd_visit_t *v)
{
    size_t i = v->active_ix;
    if (i >= self->nactive || self->active[i] != v)
        return;
    dd_visit_t *last = self->active[--self->nactive];
    self->active[i] = last;
    last->active_ix = i;
    v->active_ix = (size_t) -1;
}

int dd_world_add_visit(dd_world_t *self, dd_visit_t **v_p)
{
    dd_visit_t *v = *v_p;
    if (cc_map_get(self->v_by_id, v->id) || cc_map_get(self->v_by_order, v->order_id))
        return -1;
    v->active_ix = (size_t) -1;
    if (cc_map_put(self->v_by_id, v->id, v, NULL) != 0)
        return -1;
    if (cc_map_put(self->v_by_order, v->order_id, v, NULL) != 0)
        goto fail_id;
    if (!dd_visit_state_final(v->state) && s_active_add(self, v) != 0)
        goto fail_order;
    if (dd_visit_state_planned(v->state) && v->caregiver
        && dd_plan_add(v->caregiver, v) != 0) {
        s_active_remove(self, v);
        goto fail_order;
    }
    if (!dd_visit_state_planned(v->state))
        v->caregiver = NULL;
    *v_p = NULL;
    return 0;
fail_order:
    cc_map_remove(self->v_by_order, v->order_id);
fail_id:
    cc_map_remove(self->v_by_id, v->id);
    return -1;
}

dd_visit_t *dd_world_visit(const dd_world_t *self, const char *id)
{
    return cc_map_get(self->v_by_id, id);
}

dd_visit_t *dd_world_visit_by_order(const dd_world_t *self, const char *order_id)
{
    return cc_map_get(self->v_by_order, order_id);
}

static void s_unplan(dd_visit_t *v)
{
    if (v->caregiver)
        dd_plan_remove(v->caregiver, v);
    v->caregiver = NULL;
}

uint64_t dd_world_generation(const dd_world_t *self)
{
    return self->generation;
}

void dd_world_remove_visit(dd_world_t *self, dd_visit_t *v)
{
    self->generation++;
    s_unplan(v);
    s_active_remove(self, v);
    if (cc_map_get(self->v_by_order, v->order_id) == v)
        cc_map_remove(self->v_by_order, v->order_id);
    if (cc_map_get(self->v_by_id, v->id) == v)
        cc_map_remove(self->v_by_id, v->id);
    dd_visit_free(&v);
}

int dd_world_assign(dd_world_t *self, dd_visit_t *v, const dd_match_t *m, int64_t now_us)
{
    (void) self;
    s_unplan(v);
    v->eta_us = m->eta_us;
    v->planned_end_us = m->end_us;
    v->travel_s = m->travel_s;
    if (dd_plan_add(m->caregiver, v) != 0)
        return -1;
    v->caregiver = m->caregiver;
    strcpy(v->caregiver_id, m->caregiver->id);
    strcpy(v->provider_id, m->caregiver->provider_id);
    v->state = DD_VISIT_ASSIGNED;
    dd_plan_refresh(m->caregiver, v);
    v->assigned_us = now_us;
    return 0;
}

int dd_world_decline(dd_world_t *self, dd_visit_t *v, int64_t now_us)
{
    int rc = v->caregiver_id[0] ? dd_visit_add_declined(v, v->caregiver_id) : 0;
    v->accepted_us = 0;   /* a decline after accepting: the next offer starts afresh */
    dd_world_set_state(self, v, DD_VISIT_WAITING, now_us);
    return rc;
}

void dd_world_set_state(dd_world_t *self, dd_visit_t *v, dd_visit_state_t s, int64_t now_us)
{
    if (v->caregiver)
        v->caregiver->plan_ver++;
    if (!dd_visit_state_planned(s))
        s_unplan(v);
    if (dd_visit_state_final(s) && !dd_visit_state_final(v->state)) {
        s_active_remove(self, v);
        v->finished_us = now_us;
    }
    v->state = s;
    if (v->caregiver)
        dd_plan_refresh(v->caregiver, v);   /* checked in or not: the decision reads it */
}

dd_visit_t *const *dd_world_active(const dd_world_t *self, size_t *n)
{
    *n = self->nactive;
    return self->active;
}

static size_t s_collect(const dd_world_t *self, uint32_t district, int with_assigned,
                        dd_visit_t ***out)
{
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; i < self->nactive; i++) {
        dd_visit_t *v = self->active[i];
        if ((v->state == DD_VISIT_WAITING || (with_assigned && v->state == DD_VISIT_ASSIGNED))
            && (district == 0 || v->district_id == district))
            n++;
    }
    if (n == 0)
        return 0;
    dd_visit_t **a = malloc(n * sizeof *a);
    if (!a)
        return (size_t) -1;
    size_t k = 0;
    for (size_t i = 0; i < self->nactive; i++) {
        dd_visit_t *v = self->active[i];
        if ((v->state == DD_VISIT_WAITING || (with_assigned && v->state == DD_VISIT_ASSIGNED))
            && (district == 0 || v->district_id == district))
            a[k++] = v;
    }
    qsort(a, n, sizeof *a, dd_visit_urgency_cmp);
    *out = a;
    return n;
}

size_t dd_world_queue(const dd_world_t *self, uint32_t district, dd_visit_t ***out)
{
    return s_collect(self, district, 1, out);
}

size_t dd_world_waiting(const dd_world_t *self, dd_visit_t ***out)
{
    return s_collect(self, 0, 0, out);
}

size_t dd_world_queue_depth(const dd_world_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nactive; i++)
        if (self->active[i]->state == DD_VISIT_WAITING
            || self->active[i]->state == DD_VISIT_ASSIGNED)
            n++;
    return n;
}

size_t dd_world_visit_count(const dd_world_t *self)
{
    return cc_map_size(self->v_by_id);
}

size_t dd_world_prune(dd_world_t *self, int64_t before_us)
{
    size_t n = 0;
    for (;;) {
        /* Collect a bounded batch, then free: the map must not change while
         * it is iterated. */
        dd_visit_t *batch[256];
        size_t k = 0, pos = 0;
        dd_visit_t *v;
        while (k < 256 && (v = cc_map_next(self->v_by_id, &pos)))
            if (dd_visit_state_final(v->state) && v->finished_us < before_us)
                batch[k++] = v;
        for (size_t i = 0; i < k; i++)
            dd_world_remove_visit(self, batch[i]);
        n += k;
        if (k < 256)
            return n;
    }
}
