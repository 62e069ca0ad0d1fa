/* md_domain_test: slot choice, cut-off across dates, nearest point with
 * capacity, capacity accounting and cancellation. Pure, no I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "md_domain.h"

/* 2026-11-26 00:00 +08:00 = 2026-11-25T16:00:00Z. */
#define DAY_20261126 20783
#define US(h, m) ((int64_t)((h) * 60 + (m)) * 60 * 1000000LL)

static int64_t s_local(int32_t day, int h, int m)
{
    return md_day_start_us(day) + US(h, m);
}

static md_point_t s_point(const char *id, double lat, double lon, int lunch_cap, int lunch_cut,
                          int dinner_cap, int dinner_cut)
{
    md_point_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.name, sizeof p.name, "point %s", id);
    snprintf(p.provider_id, sizeof p.provider_id, "prov-%s", id);
    p.district_id = 1;
    p.lat = lat;
    p.lon = lon;
    if (lunch_cap > 0) {
        p.slots[MD_LUNCH].offered = 1;
        p.slots[MD_LUNCH].capacity = lunch_cap;
        p.slots[MD_LUNCH].cutoff_min = lunch_cut;
    }
    if (dinner_cap > 0) {
        p.slots[MD_DINNER].offered = 1;
        p.slots[MD_DINNER].capacity = dinner_cap;
        p.slots[MD_DINNER].cutoff_min = dinner_cut;
    }
    return p;
}

static md_meal_t s_meal(const char *order_id, md_point_t *point, int32_t day, md_slot_t slot,
                        const char *diet)
{
    md_meal_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.order_id, sizeof m.order_id, "%s", order_id);
    m.point = point;
    m.day = day;
    m.slot = slot;
    snprintf(m.diet, sizeof m.diet, "%s", diet);
    return m;
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(md_slot_parse("lunch"), MD_LUNCH);
    assert_int_equal(md_slot_parse("dinner"), MD_DINNER);
    assert_int_equal(md_slot_parse("breakfast"), -1);
    assert_int_equal(md_slot_parse("Lunch"), -1);
    assert_int_equal(md_slot_parse(NULL), -1);
    assert_string_equal(md_slot_name(MD_DINNER), "dinner");
    for (int r = MD_REFUSE_PAST_CUTOFF; r < MD_REFUSE_COUNT; r++)
        assert_int_equal(md_refusal_parse(md_refusal_name(r)), r);
    assert_int_equal(md_refusal_parse(""), -1);
    for (int s = MD_MEAL_SCHEDULED; s <= MD_MEAL_DELIVERED; s++)
        assert_int_equal(md_status_parse(md_status_name(s)), s);
    assert_int_equal(md_status_parse("open"), -1);
}

static void test_calendar(void **state)
{
    (void)state;
    char buf[16];
    int32_t day;
    assert_int_equal(md_day_parse("2026-11-26", &day), 0);
    assert_int_equal(day, DAY_20261126);
    assert_string_equal(md_day_format(day, buf, sizeof buf), "2026-11-26");
    /* Local midnight is 16:00 UTC the day before. */
    assert_true(md_day_start_us(day) == 1795622400LL * 1000000LL);
    assert_int_equal(md_day_parse("1970-01-01", &day), 0);
    assert_int_equal(day, 0);
    assert_int_equal(md_day_parse("2024-02-29", &day), 0);
    assert_string_equal(md_day_format(day, buf, sizeof buf), "2024-02-29");
    assert_int_equal(md_day_parse("2000-02-29", &day), 0);
    assert_int_equal(md_day_parse("2100-02-29", &day), -1);
    assert_int_equal(md_day_parse("2025-02-29", &day), -1);
    assert_int_equal(md_day_parse("2026-13-01", &day), -1);
    assert_int_equal(md_day_parse("2026-04-31", &day), -1);
    assert_int_equal(md_day_parse("2026-1-01", &day), -1);
    assert_int_equal(md_day_parse("2026-11-26T00:00", &day), -1);
    assert_int_equal(md_day_parse("20261126xx", &day), -1);
    assert_int_equal(md_day_parse("", &day), -1);
    assert_int_equal(md_day_parse(NULL, &day), -1);
    /* Round trip day by day over 80 years (leap years, century 2000). */
    for (int32_t d = 0; d < 30000; d++) {
        int32_t back;
        md_day_format(d, buf, sizeof buf);
        assert_int_equal(md_day_parse(buf, &back), 0);
        assert_int_equal(back, d);
    }
    /* Before the epoch the formatter still counts correctly. */
    assert_string_equal(md_day_format(-792, buf, sizeof buf), "1967-11-01");
    /* 23:59 local is still the same day; 00:00 is the next one. */
    assert_int_equal(md_day_of_us(s_local(DAY_20261126, 23, 59)), DAY_20261126);
    assert_int_equal(md_day_of_us(s_local(DAY_20261126 + 1, 0, 0)), DAY_20261126 + 1);
    /* 2026-11-26T01:00Z is 09:00 local the same day; 2026-11-25T17:00Z is
     * already 2026-11-26 01:00 local. */
    assert_int_equal(md_day_of_us(1795654800LL * 1000000LL), DAY_20261126);
    assert_int_equal(md_day_of_us(1795626000LL * 1000000LL), DAY_20261126);
}

static void test_slot_for_window(void **state)
{
    (void)state;
    md_slot_t slot;
    int32_t day;
    md_slot_for_window(s_local(DAY_20261126, 11, 30), &slot, &day);
    assert_int_equal(slot, MD_LUNCH);
    assert_int_equal(day, DAY_20261126);
    md_slot_for_window(s_local(DAY_20261126, 14, 59), &slot, &day);
    assert_int_equal(slot, MD_LUNCH);
    md_slot_for_window(s_local(DAY_20261126, 15, 0), &slot, &day);
    assert_int_equal(slot, MD_DINNER);
    md_slot_for_window(s_local(DAY_20261126, 17, 30), &slot, &day);
    assert_int_equal(slot, MD_DINNER);
    assert_int_equal(day, DAY_20261126);
    md_slot_for_window(s_local(DAY_20261126, 0, 0), &slot, &day);
    assert_int_equal(slot, MD_LUNCH);
    assert_int_equal(day, DAY_20261126);
    /* 23:30 local is a dinner of that local day, though UTC is 15:30. */
    md_slot_for_window(s_local(DAY_20261126, 23, 30), &slot, &day);
    assert_int_equal(slot, MD_DINNER);
    assert_int_equal(day, DAY_20261126);
    /* 06:00 UTC is 14:00 local (lunch), 07:00 UTC is 15:00 local (dinner):
     * the rule is on local time, not UTC. */
    md_slot_for_window(1795676400LL * 1000000LL - 1, &slot, &day);
    assert_int_equal(slot, MD_LUNCH);
    md_slot_for_window(1795676400LL * 1000000LL, &slot, &day);
    assert_int_equal(slot, MD_DINNER);
    assert_int_equal(day, DAY_20261126);
}

static void test_cutoff_across_dates(void **state)
{
    (void)state;
    int cut = 10 * 60;   /* 10:00 */
    /* Same day: before 10:00 open, at and after 10:00 passed. */
    assert_false(md_cutoff_passed(DAY_20261126, cut, s_local(DAY_20261126, 9, 59)));
    assert_true(md_cutoff_passed(DAY_20261126, cut, s_local(DAY_20261126, 10, 0)));
    assert_true(md_cutoff_passed(DAY_20261126, cut, s_local(DAY_20261126, 16, 0)));
    /* A meal tomorrow is open tonight, even after today's cut-off time. */
    assert_false(md_cutoff_passed(DAY_20261126 + 1, cut, s_local(DAY_20261126, 22, 0)));
    assert_false(md_cutoff_passed(DAY_20261126 + 1, cut, s_local(DAY_20261126 + 1, 9, 0)));
    assert_true(md_cutoff_passed(DAY_20261126 + 1, cut, s_local(DAY_20261126 + 1, 10, 1)));
    /* A meal yesterday is always past its cut-off, even a 23:59 one. */
    assert_true(md_cutoff_passed(DAY_20261126 - 1, 23 * 60 + 59, s_local(DAY_20261126, 0, 0)));
    assert_true(md_cutoff_us(DAY_20261126, cut) == s_local(DAY_20261126, 10, 0));
}

static void test_choose_nearest_with_capacity(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    assert_non_null(st);
    /* Elder at (30.0, 120.0). A is ~1.1 km away, B ~2.2 km, C ~5.5 km. */
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.01, 120.0, 1, 600, 0, 0);
    md_point_t b = s_point("bbbbbbbb-0000-4000-8000-000000000002", 30.02, 120.0, 2, 600,
                           5, 960);
    md_point_t c = s_point("cccccccc-0000-4000-8000-000000000003", 30.05, 120.0, 1, 660, 0, 0);
    /* Insert out of distance order so the choice cannot be insertion order. */
    md_point_t *pc = md_point_add(st, &c);
    md_point_t *pb = md_point_add(st, &b);
    md_point_t *pa = md_point_add(st, &a);
    assert_non_null(pa);
    assert_non_null(pb);
    assert_non_null(pc);
    assert_null(md_point_add(st, &a));            /* duplicate id */
    assert_int_equal(md_point_count(st), 3);

    int64_t now = s_local(DAY_20261126, 8, 0);
    md_choice_t ch;
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pa);
    assert_true(ch.distance_m > 1000 && ch.distance_m < 1200);

    md_meal_t m1 = s_meal("00000000-0000-4000-8000-000000000001", pa, DAY_20261126, MD_LUNCH,
                          "soft");
    assert_non_null(md_meal_schedule(st, &m1));
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 1);

    /* A is full: next nearest is B (twice), then C. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pb);
    /* A on another date is still free. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126 + 1, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pa);
    /* Dinner: only B offers it. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_DINNER, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pb);

    md_meal_t m2 = s_meal("00000000-0000-4000-8000-000000000002", pb, DAY_20261126, MD_LUNCH,
                          "");
    md_meal_t m3 = s_meal("00000000-0000-4000-8000-000000000003", pb, DAY_20261126, MD_LUNCH,
                          "low-salt");
    assert_non_null(md_meal_schedule(st, &m2));
    assert_non_null(md_meal_schedule(st, &m3));
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pc);

    /* A distance limit excludes C: no point within reach. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 3000, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_CAPACITY);
    assert_int_equal(md_choose(st, 31.0, 120.0, MD_LUNCH, DAY_20261126, now, 3000, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_MEAL_POINT);

    /* At 10:30, A and B (cut-off 10:00) are past; C (11:00) is open. */
    int64_t late = s_local(DAY_20261126, 10, 30);
    md_meal_t m4 = s_meal("00000000-0000-4000-8000-000000000004", pc, DAY_20261126, MD_LUNCH,
                          "");
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, late, 0, &ch), 0);
    assert_ptr_equal(ch.point, pc);
    assert_non_null(md_meal_schedule(st, &m4));
    /* Now C is full and the others are past cut-off: no_capacity, because
     * one point was still taking orders. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, late, 0, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_CAPACITY);
    assert_null(ch.point);
    /* At 11:00 every lunch point is past its cut-off. */
    int64_t later = s_local(DAY_20261126, 11, 0);
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, later, 0, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_PAST_CUTOFF);
    /* The same moment, tomorrow's lunch is fine. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126 + 1, later, 0, &ch), 0);
    assert_ptr_equal(ch.point, pa);
    md_state_destroy(&st);
    assert_null(st);
    md_state_destroy(&st);   /* NULL is fine */
}

static void test_choose_no_points_and_ties(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    md_choice_t ch;
    int64_t now = s_local(DAY_20261126, 8, 0);
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_MEAL_POINT);
    /* A dinner-only point does not serve lunch. */
    md_point_t d = s_point("dddddddd-0000-4000-8000-000000000004", 30.0, 120.0, 0, 0, 3, 960);
    assert_non_null(md_point_add(st, &d));
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_MEAL_POINT);
    /* Two points at the same place: the smaller id wins, whatever the
     * insertion order. */
    md_point_t y = s_point("ffffffff-0000-4000-8000-000000000009", 30.1, 120.1, 1, 600, 0, 0);
    md_point_t x = s_point("eeeeeeee-0000-4000-8000-000000000008", 30.1, 120.1, 1, 600, 0, 0);
    assert_non_null(md_point_add(st, &y));
    md_point_t *px = md_point_add(st, &x);
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, px);
    md_state_destroy(&st);
}

static void test_capacity_and_cancel(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.0, 120.0, 2, 600, 1, 960);
    md_point_t *pa = md_point_add(st, &a);
    md_meal_t m1 = s_meal("00000000-0000-4000-8000-000000000001", pa, DAY_20261126, MD_LUNCH,
                          "soft");
    md_meal_t m2 = s_meal("00000000-0000-4000-8000-000000000002", pa, DAY_20261126, MD_LUNCH,
                          "");
    md_meal_t m3 = s_meal("00000000-0000-4000-8000-000000000003", pa, DAY_20261126, MD_LUNCH,
                          "soft");
    md_meal_t *s1 = md_meal_schedule(st, &m1);
    md_meal_t *s2 = md_meal_schedule(st, &m2);
    assert_non_null(s1);
    assert_non_null(s2);
    assert_int_equal(s1->status, MD_MEAL_SCHEDULED);
    /* Full: a third lunch is refused by the state itself. */
    assert_null(md_meal_schedule(st, &m3));
    assert_null(md_meal_find(st, m3.order_id));
    /* The same order twice is refused. */
    assert_null(md_meal_schedule(st, &m1));
    /* Dinner and another date are separate buckets. */
    md_meal_t m3d = m3;
    m3d.slot = MD_DINNER;
    assert_non_null(md_meal_schedule(st, &m3d));
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_DINNER), 1);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 2);
    assert_int_equal(md_used(st, pa, DAY_20261126 + 1, MD_LUNCH), 0);
    assert_int_equal(md_open_count(st), 3);

    /* Cancelling frees the place, once. */
    assert_int_equal(md_meal_cancel(st, s1), 0);
    assert_int_equal(s1->status, MD_MEAL_CANCELLED);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 1);
    assert_int_equal(md_meal_cancel(st, s1), -1);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 1);
    assert_int_equal(md_open_count(st), 2);
    /* The freed place can be taken. */
    md_meal_t m4 = s_meal("00000000-0000-4000-8000-000000000004", pa, DAY_20261126, MD_LUNCH,
                          "diabetic");
    assert_non_null(md_meal_schedule(st, &m4));
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 2);

    /* Delivered keeps the place and cannot be cancelled or delivered again. */
    assert_int_equal(md_meal_deliver(st, s2, 123, "courier-1"), 0);
    assert_int_equal(s2->status, MD_MEAL_DELIVERED);
    assert_string_equal(s2->courier_id, "courier-1");
    assert_int_equal(md_meal_deliver(st, s2, 456, "courier-2"), -1);
    assert_true(s2->delivered_us == 123);
    assert_int_equal(md_meal_cancel(st, s2), -1);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 2);
    /* A cancelled meal cannot be delivered. */
    assert_int_equal(md_meal_deliver(st, s1, 1, NULL), -1);
    assert_int_equal(md_open_count(st), 2);   /* m3d dinner and m4 */

    /* Kitchen list of the lunch bucket: booking order, cancelled excluded. */
    size_t n;
    md_meal_t *const *ms = md_bucket_meals(st, pa, DAY_20261126, MD_LUNCH, &n);
    assert_int_equal(n, 2);
    assert_string_equal(ms[0]->order_id, m2.order_id);
    assert_string_equal(ms[1]->order_id, m4.order_id);
    md_diet_count_t tally[8];
    size_t k = md_diet_tally(ms, n, tally, 8);
    assert_int_equal(k, 2);
    assert_string_equal(tally[0].diet, "");
    assert_int_equal(tally[0].count, 1);
    assert_string_equal(tally[1].diet, "diabetic");
    assert_null(md_bucket_meals(st, pa, DAY_20261126 + 5, MD_LUNCH, &n));
    assert_int_equal(n, 0);

    /* Forget undoes a decision: the place is free again. */
    md_meal_t *s4 = md_meal_find(st, m4.order_id);
    md_meal_forget(st, &s4);
    assert_null(s4);
    assert_null(md_meal_find(st, m4.order_id));
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 1);
    assert_int_equal(md_open_count(st), 1);
    md_state_destroy(&st);
}

static void test_load_and_prune(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.0, 120.0, 1, 600, 0, 0);
    snprintf(a.idem_key, sizeof a.idem_key, "key-1");
    md_point_t *pa = md_point_add(st, &a);
    assert_ptr_equal(md_point_find_idem(st, "key-1"), pa);
    assert_null(md_point_find_idem(st, "key-2"));
    assert_null(md_point_find_idem(st, ""));
    assert_ptr_equal(md_point_find(st, a.id), pa);
    assert_null(md_point_find(st, "nope"));

    /* Loading trusts the store: two stored meals in a one-place slot both
     * count, and the slot shows full. */
    md_meal_t m1 = s_meal("00000000-0000-4000-8000-000000000001", pa, DAY_20261126, MD_LUNCH,
                          "");
    md_meal_t m2 = s_meal("00000000-0000-4000-8000-000000000002", pa, DAY_20261126, MD_LUNCH,
                          "");
    m2.status = MD_MEAL_DELIVERED;
    md_meal_t m3 = s_meal("00000000-0000-4000-8000-000000000003", pa, DAY_20261126, MD_LUNCH,
                          "");
    m3.status = MD_MEAL_CANCELLED;
    md_meal_t m4 = s_meal("00000000-0000-4000-8000-000000000004", NULL, DAY_20261126 + 1,
                          MD_LUNCH, "");
    m4.status = MD_MEAL_REFUSED;
    m4.reason = MD_REFUSE_NO_CAPACITY;
    assert_non_null(md_meal_load(st, &m1));
    assert_non_null(md_meal_load(st, &m2));
    assert_non_null(md_meal_load(st, &m3));
    assert_non_null(md_meal_load(st, &m4));
    assert_null(md_meal_load(st, &m4));
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 2);
    assert_int_equal(md_open_count(st), 1);
    assert_int_equal(md_meal_count(st), 4);
    md_choice_t ch;
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126,
                               s_local(DAY_20261126, 7, 0), 0, &ch), -1);
    assert_int_equal(ch.reason, MD_REFUSE_NO_CAPACITY);

    /* Prune before tomorrow: the delivered and cancelled meals of today go,
     * the refused one of tomorrow stays, and so does today's scheduled one:
     * its delivery deadline is still to be resolved (its bucket goes). */
    assert_int_equal(md_state_prune(st, DAY_20261126 + 1), 2);
    assert_int_equal(md_meal_count(st), 2);
    assert_int_equal(md_open_count(st), 1);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 0);
    assert_non_null(md_meal_find(st, m4.order_id));
    md_meal_t *k1 = md_meal_find(st, m1.order_id);
    assert_non_null(k1);
    /* Once undelivered it goes at the next prune. */
    assert_int_equal(md_meal_expire(st, k1, s_local(DAY_20261126, 15, 0)), 0);
    assert_int_equal(md_open_count(st), 0);
    assert_int_equal(md_state_prune(st, DAY_20261126 + 1), 1);
    assert_null(md_meal_find(st, m1.order_id));
    md_state_destroy(&st);
}

/* The delivery deadline: due deliver_s after the window's end, resolved
 * overdue_s later; only scheduled meals have one; no overflow. */
static void test_delivery_deadline(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.0, 120.0, 10, 600, 0, 0);
    md_point_t *pa = md_point_add(st, &a);
    md_meal_t m = s_meal("00000000-0000-4000-8000-000000000001", pa, DAY_20261126, MD_LUNCH,
                         "");
    int64_t end = s_local(DAY_20261126, 12, 30);
    m.window_end_us = end;
    md_meal_t *got = md_meal_schedule(st, &m);
    assert_non_null(got);
    md_deadline_rule_t r = { .deliver_s = 3600, .overdue_s = 1800 };
    int64_t due, resolve, min = 60LL * 1000000;
    assert_int_equal(md_meal_due(got, &r, end, &due, &resolve), MD_DUE_ON_TIME);
    assert_true(due == end + 60 * min && resolve == end + 90 * min);
    assert_int_equal(md_meal_due(got, &r, due - 1, NULL, NULL), MD_DUE_ON_TIME);
    assert_int_equal(md_meal_due(got, &r, due, NULL, NULL), MD_DUE_OVERDUE);
    assert_int_equal(md_meal_due(got, &r, resolve - 1, NULL, NULL), MD_DUE_OVERDUE);
    assert_int_equal(md_meal_due(got, &r, resolve, NULL, NULL), MD_DUE_RESOLVE);
    /* The open list is what the sweep walks. */
    size_t n;
    md_meal_t *const *open = md_open_meals(st, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(open[0], got);
    /* Expired: no deadline any more, the place stays taken, no second expiry. */
    assert_int_equal(md_meal_expire(st, got, resolve), 0);
    assert_int_equal(got->status, MD_MEAL_UNDELIVERED);
    assert_string_equal(md_status_name(got->status), "undelivered");
    assert_int_equal(md_status_parse("undelivered"), MD_MEAL_UNDELIVERED);
    assert_int_equal(md_meal_due(got, &r, resolve, NULL, NULL), MD_DUE_NONE);
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 1);
    assert_int_equal(md_meal_expire(st, got, resolve), -1);
    assert_int_equal(md_meal_deliver(st, got, resolve, "c"), -1);
    assert_int_equal(md_meal_cancel(st, got), -1);
    md_open_meals(st, &n);
    assert_int_equal(n, 0);
    /* Stored windows at the ends of int64 give an answer, not an overflow. */
    md_meal_t x = m;
    x.status = MD_MEAL_SCHEDULED;
    x.window_end_us = INT64_MAX - 1;
    assert_int_equal(md_meal_due(&x, &r, end, &due, &resolve), MD_DUE_ON_TIME);
    assert_true(resolve == INT64_MAX);
    x.window_end_us = INT64_MIN + 1;
    assert_int_equal(md_meal_due(&x, &r, end, NULL, NULL), MD_DUE_RESOLVE);
    /* Ranges: each field, both edges. */
    const char *field = NULL;
    md_deadline_rule_t e = { 0, 0 };
    assert_int_equal(md_deadline_rule_check(&e, NULL), 0);
    e = (md_deadline_rule_t) { 86400, 86400 };
    assert_int_equal(md_deadline_rule_check(&e, NULL), 0);
    e = (md_deadline_rule_t) { -1, 0 };
    assert_int_equal(md_deadline_rule_check(&e, &field), -1);
    assert_string_equal(field, "deliver_s");
    e = (md_deadline_rule_t) { 0, 86401 };
    assert_int_equal(md_deadline_rule_check(&e, &field), -1);
    assert_string_equal(field, "overdue_s");
    md_state_destroy(&st);
}

/* The open list follows every way out of scheduled, whatever the order. */
static void test_open_list(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.0, 120.0, 10, 600, 0, 0);
    md_point_t *pa = md_point_add(st, &a);
    md_meal_t *m[5];
    for (int i = 0; i < 5; i++) {
        char id[MD_ID_LEN];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        md_meal_t x = s_meal(id, pa, DAY_20261126, MD_LUNCH, "");
        m[i] = md_meal_schedule(st, &x);
        assert_non_null(m[i]);
    }
    assert_int_equal(md_meal_deliver(st, m[0], 1, ""), 0);
    assert_int_equal(md_meal_cancel(st, m[4]), 0);
    assert_int_equal(md_meal_expire(st, m[2], 1), 0);
    md_meal_forget(st, &m[3]);
    size_t n;
    md_meal_t *const *open = md_open_meals(st, &n);
    assert_int_equal(n, 1);
    assert_int_equal(md_open_count(st), 1);
    assert_ptr_equal(open[0], m[1]);
    assert_int_equal(open[0]->open_ix, 0);
    md_state_destroy(&st);
}

static void test_many_meals(void **state)
{
    (void)state;
    /* Enough orders to grow the hash tables several times. */
    md_state_t *st = md_state_new();
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.0, 120.0, 5000, 600,
                           5000, 960);
    md_point_t *pa = md_point_add(st, &a);
    for (int i = 0; i < 12000; i++) {
        char id[MD_ID_LEN];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        md_meal_t m = s_meal(id, pa, DAY_20261126 + i % 3, i % 2 ? MD_DINNER : MD_LUNCH, "");
        md_meal_t *got = md_meal_schedule(st, &m);
        assert_non_null(got);
    }
    assert_int_equal(md_meal_count(st), 12000);
    for (int i = 0; i < 12000; i += 97) {
        char id[MD_ID_LEN];
        snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
        md_meal_t *m = md_meal_find(st, id);
        assert_non_null(m);
        assert_string_equal(m->order_id, id);
    }
    assert_int_equal(md_used(st, pa, DAY_20261126, MD_LUNCH), 2000);
    md_state_destroy(&st);
}

/* A care plan's point (md_choose_at): booked at any distance while it
 * offers the slot, before its cut-off and with room; else -1. */
static void test_choose_at_a_plans_point(void **state)
{
    (void)state;
    md_state_t *st = md_state_new();
    assert_non_null(st);
    md_point_t a = s_point("aaaaaaaa-0000-4000-8000-000000000001", 30.01, 120.0, 1, 600, 0, 0);
    md_point_t f = s_point("ffffffff-0000-4000-8000-000000000009", 31.5, 120.0, 1, 600, 0, 0);
    md_point_t *pa = md_point_add(st, &a), *pf = md_point_add(st, &f);
    assert_non_null(pa);
    assert_non_null(pf);
    int64_t now = s_local(DAY_20261126, 8, 0);
    md_choice_t ch;
    /* Far (~167 km): md_choose never picks it; the plan's choice does. */
    assert_int_equal(md_choose(st, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, 0, &ch), 0);
    assert_ptr_equal(ch.point, pa);
    assert_int_equal(md_choose_at(st, f.id, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, &ch), 0);
    assert_ptr_equal(ch.point, pf);
    assert_true(ch.distance_m > 160000);
    /* Unknown, empty, a slot it does not offer, past its cut-off, full. */
    assert_int_equal(md_choose_at(st, "bbbbbbbb-0000-4000-8000-000000000002", 30.0, 120.0,
                                  MD_LUNCH, DAY_20261126, now, &ch), -1);
    assert_int_equal(md_choose_at(st, "", 30.0, 120.0, MD_LUNCH, DAY_20261126, now, &ch), -1);
    assert_int_equal(md_choose_at(st, NULL, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, &ch), -1);
    assert_int_equal(md_choose_at(st, f.id, 30.0, 120.0, MD_DINNER, DAY_20261126, now, &ch), -1);
    assert_int_equal(md_choose_at(st, f.id, 30.0, 120.0, MD_LUNCH, DAY_20261126,
                                  s_local(DAY_20261126, 10, 0), &ch), -1);
    md_meal_t m = s_meal("00000000-0000-4000-8000-000000000001", pf, DAY_20261126, MD_LUNCH, "");
    assert_non_null(md_meal_schedule(st, &m));
    assert_int_equal(md_choose_at(st, f.id, 30.0, 120.0, MD_LUNCH, DAY_20261126, now, &ch), -1);
    md_state_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_slot_for_window),
        cmocka_unit_test(test_cutoff_across_dates),
        cmocka_unit_test(test_choose_nearest_with_capacity),
        cmocka_unit_test(test_choose_at_a_plans_point),
        cmocka_unit_test(test_choose_no_points_and_ties),
        cmocka_unit_test(test_capacity_and_cancel),
        cmocka_unit_test(test_load_and_prune),
        cmocka_unit_test(test_delivery_deadline),
        cmocka_unit_test(test_open_list),
        cmocka_unit_test(test_many_meals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
