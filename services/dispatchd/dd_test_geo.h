/* dd_test_geo.h: places for the unit tests, in minutes of travel.
 *
 * The model's travel is the real one (dd_model_travel_s: straight line x 1.3
 * at 15 km/h). A test place "m minutes out" lies on the meridian through
 * (DD_TEST_LAT, DD_TEST_LON), m minutes of travel north of it, so travel
 * between two test places is |m1 - m2| minutes to well under a second and
 * tests can speak in minutes, as they did on the old grid. Header only, for
 * the *_test.c files. */
#ifndef DD_TEST_GEO_H
#define DD_TEST_GEO_H

#include "cc_util.h"

#define DD_TEST_LAT 30.25
#define DD_TEST_LON 120.15
/* Degrees of latitude per minute of travel. */
#define DD_TEST_DEG_PER_MIN \
    (60.0 * CC_GEO_SPEED_M_PER_S / CC_GEO_DETOUR_FACTOR / CC_GEO_EARTH_RADIUS_M * 180.0 \
     / 3.14159265358979323846)

static inline double dd_test_lat(double minutes)
{
    return DD_TEST_LAT + minutes * DD_TEST_DEG_PER_MIN;
}

#endif
