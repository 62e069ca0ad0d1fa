/* od_domain: see od_domain.h. Pure: no I/O, no clocks, no allocation. */
#include "od_domain.h"
#include "cc_daemon.h"
#include "cc_util.h"
#include "cc_time.h"
#include <string.h>
#include <ctype.h>

const char *const od_state_names[] = {
#define S_X(e, name, final, cancellable) name,
    OD_STATES(S_X)
#undef S_X
    NULL
};
static const bool s_state_final[OD_STATE_COUNT] = {
#define S_X(e, name, final, cancellable) [e] = final,
    OD_STATES(S_X)
#undef S_X
};
static const bool s_state_cancellable[OD_STATE_COUNT] = {
#define S_X(e, name, final, cancellable) [e] = cancellable,
    OD_STATES(S_X)
#undef S_X
};
const char *const od_ability_names[] = {
    "intact", "mild", "moderate", "severe", "total", NULL
};
const char *const od_household_names[] = {
    "none", "dibao", "dibao_edge", "tekun", NULL
};
const char *const od_living_names[] = {
    "alone", "empty_nest", "with_family", "left_behind", "other", NULL
};
static const char *const s_event_names[OD_EV_COUNT] = {
    "FundsHeld", "FundsDenied", "HoldCaptured", "HoldReleased",
    "VisitAssigned", "VisitAccepted", "VisitDeclined", "VisitCheckedIn",
    "VisitCompleted", "VisitFailed", "MealScheduled", "MealRefused",
    "MealDelivered", "Cancel"
};

const char *od_state_name(od_state_t s)
{
    return (s >= 0 && s < OD_STATE_COUNT) ? od_state_names[s] : "unknown";
}

int od_state_parse(const char *s)
{
    for (int i = 0; s && od_state_names[i]; i++)
        if (strcmp(s, od_state_names[i]) == 0)
            return i;
    return -1;
}

bool od_state_final(od_state_t s)
{
    return s >= 0 && s < OD_STATE_COUNT && s_state_final[s];
}

bool od_state_cancellable(od_state_t s)
{
    return s >= 0 && s < OD_STATE_COUNT && s_state_cancellable[s];
}

int od_states_check(const od_state_row_t *rows, size_t n, const char **bad, const char **why)
{
    const char *b = NULL, *w = NULL;
    bool seen[OD_STATE_COUNT] = { false };
    for (size_t i = 0; i < n && !b; i++) {
        int s = od_state_parse(rows[i].name);
        if (s < 0)
            b = rows[i].name, w = "unknown_to_orderd";
        else if (seen[s])
            b = rows[i].name, w = "duplicate";
        else if (rows[i].final != s_state_final[s])
            b = rows[i].name, w = "final";
        else if (rows[i].cancellable != s_state_cancellable[s])
            b = rows[i].name, w = "cancellable";
        else
            seen[s] = true;
    }
    for (int s = 0; s < OD_STATE_COUNT && !b; s++)
        if (!seen[s])
            b = od_state_names[s], w = "missing_in_store";
    if (bad)
        *bad = b;
    if (why)
        *why = w;
    return b ? -1 : 0;
}

const char *od_event_name(od_event_t e)
{
    return (e >= 0 && e < OD_EV_COUNT) ? s_event_names[e] : "unknown";
}

int od_event_parse(const char *type)
{
    /* Cancel is ours, never an inbound event type. */
    for (int i = 0; type && i < OD_EV_CANCEL; i++)
        if (strcmp(type, s_event_names[i]) == 0)
            return i;
    return -1;
}

static od_step_t s_to(od_state_t from, od_state_t to, od_out_t out)
{
    od_step_t st = { to, to != from, out };
    return st;
}

od_step_t od_step(od_state_t from, od_event_t ev)
{
    od_step_t stay = { from, false, OD_OUT_NONE };
    /* A final order keeps its state; the event is only history. */
    if (od_state_final(from))
        return stay;
    switch (ev) {
    case OD_EV_FUNDS_HELD:
        /* Emergencies are released at placement, so a late FundsHeld only
         * records the amounts. */
        if (from == OD_PLACED || from == OD_FUNDS_HELD)
            return s_to(from, OD_RELEASED, OD_OUT_RELEASED);
        return stay;
    case OD_EV_FUNDS_DENIED:
        if (from == OD_PLACED || from == OD_FUNDS_HELD)
            return s_to(from, OD_DENIED, OD_OUT_NONE);
        return stay;
    case OD_EV_VISIT_ASSIGNED:
    case OD_EV_MEAL_SCHEDULED:
        /* assigned -> assigned: a re-assignment updates who, same state. */
        if (from == OD_RELEASED || from == OD_ASSIGNED)
            return s_to(from, OD_ASSIGNED, OD_OUT_NONE);
        return stay;
    case OD_EV_VISIT_DECLINED:
        /* dispatchd re-dispatches by itself: no new OrderReleased. */
        if (from == OD_ASSIGNED)
            return s_to(from, OD_RELEASED, OD_OUT_NONE);
        return stay;
    case OD_EV_VISIT_CHECKED_IN:
        if (from == OD_ASSIGNED)
            return s_to(from, OD_IN_PROGRESS, OD_OUT_NONE);
        return stay;
    case OD_EV_VISIT_COMPLETED:
        if (from == OD_ASSIGNED || from == OD_IN_PROGRESS)
            return s_to(from, OD_COMPLETED, OD_OUT_COMPLETED);
        return stay;
    case OD_EV_MEAL_DELIVERED:
        if (from == OD_ASSIGNED)
            return s_to(from, OD_COMPLETED, OD_OUT_COMPLETED);
        return stay;
    case OD_EV_VISIT_FAILED:
        if (from == OD_RELEASED || from == OD_ASSIGNED || from == OD_IN_PROGRESS)
            return s_to(from, OD_FAILED, OD_OUT_FAILED);
        return stay;
    case OD_EV_MEAL_REFUSED:
        if (from == OD_RELEASED || from == OD_ASSIGNED)
            return s_to(from, OD_FAILED, OD_OUT_FAILED);
        return stay;
    case OD_EV_HOLD_CAPTURED:
        if (from == OD_COMPLETED)
            return s_to(from, OD_BILLED, OD_OUT_NONE);
        return stay;
    case OD_EV_CANCEL:
        if (od_state_cancellable(from))
            return s_to(from, OD_CANCELLED, OD_OUT_CANCELLED);
        return stay;
    case OD_EV_VISIT_ACCEPTED:
    case OD_EV_HOLD_RELEASED:
    default:
        return stay;
    }
}

const char *od_service_name(int service)
{
    return cc_service_name(service);
}

int od_service_parse(const char *name)
{
    for (int i = 0; name && cc_service_names[i]; i++)
        if (strcmp(name, cc_service_names[i]) == 0)
            return i + 1;
    return 0;
}

bool od_service_is_visit(int service)
{
    return service >= 2 && service < OD_SERVICE_COUNT;
}

/* ---- ID numbers -------------------------------------------------------- */
char od_id_number_check_char(const char *first17)
{
    static const int weights[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
    static const char map[11] = { '1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2' };
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (first17[i] - '0') * weights[i];
    return map[sum % 11];
}

static int s_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int od_id_number_check(const char *s, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!s || strlen(s) != 18) {
        *why = "length";
        return -1;
    }
    for (int i = 0; i < 17; i++)
        if (s[i] < '0' || s[i] > '9') {
            *why = "format";
            return -1;
        }
    char last = s[17] == 'x' ? 'X' : s[17];
    if (!(last == 'X' || (last >= '0' && last <= '9'))) {
        *why = "format";
        return -1;
    }
    /* Region code: the first digit is 1..8 (9 is reserved for foreigners'
     * permanent residence cards, which also carry this format; accept). */
    if (s[0] == '0') {
        *why = "format";
        return -1;
    }
    int y = s_digits(s + 6, 4), m = s_digits(s + 10, 2), d = s_digits(s + 12, 2);
    if (y < 1850 || !od_date_valid(y, m, d)) {
        *why = "birth_date";
        return -1;
    }
    if (od_id_number_check_char(s) != last) {
        *why = "checksum";
        return -1;
    }
    *why = NULL;
    return 0;
}

/* ---- dates ------------------------------------------------------------- */
static bool s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool od_date_valid(int y, int m, int d)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1] + (m == 2 && s_leap(y) ? 1 : 0);
    return d <= max;
}

int od_date_parse(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return -1;
    int yy = s_digits(s, 4), mm = s_digits(s + 5, 2), dd = s_digits(s + 8, 2);
    if (!od_date_valid(yy, mm, dd))
        return -1;
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

int od_age_years(int by, int bm, int bd, int y, int m, int d)
{
    int age = y - by;
    /* Not yet had this year's birthday. 29 Feb in a common year: the
     * birthday is taken as 1 Mar, which this comparison gives naturally. */
    if (m < bm || (m == bm && d < bd))
        age--;
    return age;
}

/* ---- small text checks -------------------------------------------------- */
bool od_phone_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n < 5 || n > 20)
        return false;
    int digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c == '+' && i == 0)
            continue;
        else if ((c == '-' || c == ' ') && i > 0 && i + 1 < n && isdigit((unsigned char)s[i - 1]))
            continue;
        else
            return false;
    }
    return digits >= 5;
}

bool od_idem_key_valid(const char *s)
{
    return cc_idem_key_valid(s);
}

/* ---- orders ------------------------------------------------------------ */
int od_window_check(int64_t start_us, int64_t end_us, int64_t now_us, const char **field,
                    const char **why)
{
    const char *dummy, *dummy_f;
    if (!why)
        why = &dummy;
    if (!field)
        field = &dummy_f;
    *field = "window_end";
    /* Absolute ranges first: what passes them cannot overflow below. */
    if (!cc_time_in_range(start_us)) {
        *field = "window_start";
        *why = "window_start must be between 2000-01-01 and 9999-12-31";
        return -1;
    }
    if (!cc_time_in_range(end_us)) {
        *why = "window_end must be between 2000-01-01 and 9999-12-31";
        return -1;
    }
    if (end_us <= start_us) {
        *why = "window_end must be after window_start";
        return -1;
    }
    int64_t span, horizon;
    if (cc_sub_i64(end_us, start_us, &span) != 0 || span > OD_WINDOW_MAX_US) {
        *why = "the window is longer than 7 days";
        return -1;
    }
    if (end_us <= now_us) {
        *why = "window_end is in the past";
        return -1;
    }
    if (cc_add_i64(now_us, CC_ORDER_HORIZON_US, &horizon) != 0 || start_us > horizon) {
        *field = "window_start";
        *why = "window_start is more than 90 days ahead";
        return -1;
    }
    *field = NULL;
    *why = NULL;
    return 0;
}

int32_t od_priority(bool emergency, int64_t window_start_us)
{
    return od_priority_ranked(emergency, 0, window_start_us);
}

int32_t od_priority_ranked(bool emergency, int duty_rank, int64_t window_start_us)
{
    /* Minutes since 2020-01-01T00:00Z, clamped to [0, 2^28) (510 years):
     * the lower 28 bits rank earlier windows higher; bits 28-29 a mandated
     * duty's rank (dispatchd's dd_visit_duty_rank); bit 30 puts emergencies
     * on top. */
    const int64_t epoch2020_us = 1577836800LL * CC_US_PER_S;
    const int64_t span = (int64_t)1 << 28;
    int64_t min = (window_start_us - epoch2020_us) / CC_US_PER_MIN;
    if (min < 0)
        min = 0;
    if (min > span - 1)
        min = span - 1;
    int64_t rank = duty_rank < 0 ? 0 : duty_rank > 2 ? 2 : duty_rank;
    int64_t p = (span - 1 - min) + (rank << 28) + (emergency ? (int64_t)1 << 30 : 0);
    return (int32_t)p;
}
