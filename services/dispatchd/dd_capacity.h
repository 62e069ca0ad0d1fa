/* dd_capacity: a district's capacity per local day, told to orderd
 * (CapacityReported, docs/DUTIES.md "Capacity") so that its duty generator
 * spreads mandated visits by the caregivers' free minutes; and the rank of
 * a mandated duty visit (VisitReleased.priority bits 28-29), which lets a
 * contact duty take a less pressing visit's planned slot on a short day.
 *
 * The figures are pure (dd_capacity_compute, unit tested in
 * dd_capacity_test.c); dd_capacity_tick publishes them from the sweep:
 * a district-day never reported, or whose figures moved by at least
 * --capacity-threshold-min (or whose count of caregivers changed), and at
 * most once per --capacity-report-s per district-day. Not per visit: the
 * log stays small. */
#ifndef DD_CAPACITY_H
#define DD_CAPACITY_H
#include <stddef.h>
#include <stdint.h>

#include "dd_app.h"
#include "dd_domain.h"

typedef struct {
    uint32_t district;
    int32_t day;           /* local day number (dd_day_of) */
    int shift_min;         /* shift minutes of the district's caregivers (rota applied) */
    int planned_min;       /* minutes in their plans that day: service + travel */
    int duty_min;          /* of which mandated duty visits (dd_visit_duty_rank > 0) */
    int caregivers;        /* with a shift that day */
} dd_capacity_t;

/* Figures for each district that has caregivers (their home district) and
 * each day of [from, from + ndays): *out malloc'd (caller frees), sorted by
 * district then day. A visit counts on the day of its planned start.
 * Returns the count, or -1 out of memory. */
int dd_capacity_compute(dd_caregiver_t *const *cgs, size_t n, int32_t from, int ndays,
                        dd_capacity_t **out);

/* 1 when now is to be reported again after last: caregivers changed, or a
 * figure moved by threshold_min or more. */
int dd_capacity_changed(const dd_capacity_t *last, const dd_capacity_t *now, int threshold_min);

/* From the sweep: at most every few seconds, compute the figures over
 * [today, today + app->capacity_days) and append CapacityReported for the
 * district-days due (above), in one statement. No-op when
 * app->capacity_report_s is 0. */
void dd_capacity_tick(dd_app_t *app, int64_t now_us);
/* Forget what was reported (reload: report everything again). */
void dd_capacity_reset(dd_app_t *app);

#endif
