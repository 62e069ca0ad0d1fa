/* md_sweep: meald's delivery-deadline sweep (md_domain.h, "delivery
 * deadline"; docs/ARCHITECTURE.md "Deadlines"). Every MD_SWEEP_MS on the
 * loop: re-read table deadlines every --deadlines-refresh-s, and expire the
 * scheduled meals whose deadline is resolved, at most MD_SWEEP_BUDGET a
 * tick, each by one md_expire call (MealRefused{reason: not_delivered});
 * memory follows after COMMIT, as for deliveries. Deadlines come from
 * stored windows, so a restart expires what passed while meald was down
 * (overdue_s after it starts: md_meal_ripe). */
#ifndef MD_SWEEP_H
#define MD_SWEEP_H
#include <event2/event.h>

#include "md_app.h"

#define MD_SWEEP_MS 1000      /* tick */
#define MD_SWEEP_BUDGET 64    /* expiries written per tick */

/* The sweep timer's callback (arg an md_app_t). */
void md_sweep_on_timer(evutil_socket_t fd, short what, void *arg);

#endif
