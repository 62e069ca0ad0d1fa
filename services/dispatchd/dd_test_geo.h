/* dd_test_geo.h: places for the unit tests, in minutes of travel, and the model tests' fixtures.
 *
 * The model's travel is the real one (dd_model_travel_s: straight line x 1.3
 * at 15 km/h). A test place "m minutes out" lies on the meridian through
 * (DD_TEST_LAT, DD_TEST_LON), m minutes of travel north of it, so travel
 * between two test places is |m1 - m2| minutes to well under a second and
 * tests can speak in minutes, as they did on the old grid. Header only, for
 * the *_test.c files. */
#ifndef DD_TEST_GEO_H
#define DD_TEST_GEO_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cc_util.h"
#include "dd_model.h"

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

/* 2026-11-26 00:00 Asia/Shanghai, and the fixtures the model tests share. */
#define DD_TEST_DAY0_US (1795622400LL * 1000000)
#define DD_TEST_MIN_US (60LL * 1000000)
#define DD_TEST_SK(s) (1u << (s))

static inline int64_t dd_test_at(int h, int m)
{
    return DD_TEST_DAY0_US + (int64_t) (h * 60 + m) * DD_TEST_MIN_US;
}

/* A caregiver `minutes` of travel north of the origin, shift 08:00-18:00. */
static inline dd_caregiver_t dd_test_cg(const char *id, double minutes, uint32_t skills,
                                        int level, int first_aid)
{
    dd_caregiver_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.provider_id, sizeof c.provider_id, "prov-%s", id);
    c.lat = dd_test_lat(minutes);
    c.lon = DD_TEST_LON;
    c.skills = skills;
    c.level = level;
    c.first_aid = first_aid;
    c.shift_start_min = 8 * 60;
    c.shift_end_min = 18 * 60;
    c.district_id = 1;
    return c;
}

/* A visit at the origin, window [ws, we]. */
static inline dd_visit_t dd_test_visit(const char *id, int service, int64_t ws, int64_t we)
{
    dd_visit_t v;
    memset(&v, 0, sizeof v);
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.order_id, sizeof v.order_id, "o-%s", id);
    v.service = service;
    v.window_start_us = ws;
    v.window_end_us = we;
    v.ability = DD_ABILITY_MILD;
    v.district_id = 1;
    v.lat = dd_test_lat(0);
    v.lon = DD_TEST_LON;
    return v;
}

/* No travel limit and no balance term: choices turn on travel and continuity. */
static inline dd_model_params_t dd_test_params(int64_t now)
{
    dd_model_params_t p;
    dd_model_params_init(&p, now);
    p.max_travel_s = 0;
    p.balance = 0;
    return p;
}

/* Can c alone take v? 0 and *m, or -1. */
static inline int dd_test_fit(dd_caregiver_t *c, const dd_visit_t *v, const dd_model_params_t *p,
                              dd_match_t *m)
{
    dd_caregiver_t *one[] = {c};
    return dd_model_match(one, 1, v, p, m);
}

#endif
