/* dd_state: dispatchd's in-memory working set (DESIGN.md §4): caregivers,
 * visits, their plans and the dispatch queue. Decisions are taken against it;
 * the store makes them durable. Pure: no I/O, no clock (times are passed in).
 *
 * Visits that are not final are "active" (a list kept for the queue and the
 * sweeps); final ones stay reachable by id until pruned. */
#ifndef DD_STATE_H
#define DD_STATE_H
#include "dd_domain.h"
#include "dd_rules.h"

typedef struct dd_world dd_world_t;

dd_world_t *dd_world_new(void);
/* The providers' zones (dd_rules.h), owned by the world. */
dd_zones_t *dd_world_zones(const dd_world_t *self);
/* Frees every caregiver and visit (not their timers: the caller's). */
void dd_world_destroy(dd_world_t **self_p);

/* Zeroed caregiver / visit, or NULL. */
dd_caregiver_t *dd_caregiver_new(void);
void dd_caregiver_free(dd_caregiver_t **c_p);
dd_visit_t *dd_visit_new(void);
void dd_visit_free(dd_visit_t **v_p);

/* Takes ownership of *c_p (nulls it) on success; 0, or -1 (duplicate id or
 * out of memory: *c_p untouched). */
int dd_world_add_caregiver(dd_world_t *self, dd_caregiver_t **c_p);
dd_caregiver_t *dd_world_caregiver(const dd_world_t *self, const char *id);
dd_caregiver_t *dd_world_caregiver_by_key(const dd_world_t *self, const char *idem_key);
dd_caregiver_t *const *dd_world_caregivers(const dd_world_t *self, size_t *n);

/* Takes ownership as above. A planned visit (state assigned/accepted/
 * checked_in with v->caregiver set) is added to its caregiver's plan.
 * -1 for a duplicate id or order id. */
int dd_world_add_visit(dd_world_t *self, dd_visit_t **v_p);
dd_visit_t *dd_world_visit(const dd_world_t *self, const char *id);
dd_visit_t *dd_world_visit_by_order(const dd_world_t *self, const char *order_id);
/* Unlink and free v (rollback of a tentative visit, pruning). */
void dd_world_remove_visit(dd_world_t *self, dd_visit_t *v);

/* waiting (or any unplanned) -> assigned to m->caregiver at m's times. */
int dd_world_assign(dd_world_t *self, dd_visit_t *v, const dd_match_t *m, int64_t now_us);
/* Offer refused (decline or accept timeout): remember the caregiver, free
 * the slot, back to waiting. 0, or -1 out of memory (still waiting). */
int dd_world_decline(dd_world_t *self, dd_visit_t *v, int64_t now_us);
/* Move to state; leaving the plan when the state no longer holds a slot and
 * leaving the active list when it is final. */
void dd_world_set_state(dd_world_t *self, dd_visit_t *v, dd_visit_state_t s, int64_t now_us);

/* Active visits (not final), unordered; borrowed. */
dd_visit_t *const *dd_world_active(const dd_world_t *self, size_t *n);
/* The dispatcher's queue: waiting and assigned-not-accepted visits of
 * district (0: all), most urgent first. *out is malloc'd (caller frees),
 * NULL when empty. Returns the count, or (size_t)-1 out of memory. */
size_t dd_world_queue(const dd_world_t *self, uint32_t district, dd_visit_t ***out);
/* Waiting visits only, most urgent first (retry order); as above. */
size_t dd_world_waiting(const dd_world_t *self, dd_visit_t ***out);
/* Counts for gauges. */
size_t dd_world_queue_depth(const dd_world_t *self);
size_t dd_world_visit_count(const dd_world_t *self);
/* Bumped whenever a visit is freed: pointers taken before are stale. */
uint64_t dd_world_generation(const dd_world_t *self);
/* Free final visits that finished before before_us; returns how many. */
size_t dd_world_prune(dd_world_t *self, int64_t before_us);

#endif
