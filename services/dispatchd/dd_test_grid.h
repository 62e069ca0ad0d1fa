/* dd_test_grid.h: the unit tests' travel metric and its lower bound.
 *
 * Travel seconds = Manhattan distance in degrees x s_per_deg, rounded: easy
 * to reason about in a test and full of exact ties. dd_test_grid_lb bounds
 * it from below over a box (a dd_travel_lb_fn), so the tests can run the
 * pruned search (dd_match_params_t.travel_lb) as the daemon does. Header
 * only, for the *_test.c files. */
#ifndef DD_TEST_GRID_H
#define DD_TEST_GRID_H

#include <math.h>

#include "dd_domain.h"

static inline int dd_test_grid(double s_per_deg, double lat1, double lon1, double lat2,
                               double lon2)
{
    double d = fabs(lat1 - lat2) + fabs(lon1 - lon2);
    return (int) (d * s_per_deg + 0.5);
}

/* Every point of the box is at least this far from (lat, lon) on the grid. */
static inline int dd_test_grid_lb(double s_per_deg, const dd_box_t *b, double lat, double lon)
{
    double dlat = lat < b->lat_min ? b->lat_min - lat : lat > b->lat_max ? lat - b->lat_max : 0;
    double dlon = lon < b->lon_min ? b->lon_min - lon : lon > b->lon_max ? lon - b->lon_max : 0;
    return (int) ((dlat + dlon) * s_per_deg + 0.5);
}

#endif
